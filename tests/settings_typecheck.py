"""Settings for mypy's Django plugin: the package alone, without the example project."""

from .settings import *  # noqa: F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "sales"]  # noqa: F405
