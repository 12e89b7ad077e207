"""The Django email backend: ``symfonia_mail.backends.ConfiguredEmailBackend``."""

from .configured import ConfiguredEmailBackend

__all__ = ["ConfiguredEmailBackend"]
