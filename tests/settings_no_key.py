"""The test settings without FIELD_ENCRYPTION_KEY: a project that forgot it (check E001)."""

from .settings import *  # noqa: F403

del FIELD_ENCRYPTION_KEY  # noqa: F821
