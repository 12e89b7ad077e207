"""The test settings on PostgreSQL with django-tasks-db: for db_worker processes.

tests/pg.py starts the server; its env() gives the SYMFONIA_PG_* variables.
"""

import os
from importlib.util import find_spec

from .settings import *  # noqa: F403

DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql",
    "HOST": os.environ.get("SYMFONIA_PG_HOST", "127.0.0.1"),
    "PORT": os.environ.get("SYMFONIA_PG_PORT", "5432"),
    "NAME": os.environ.get("SYMFONIA_PG_NAME", "symfonia"),
    "USER": os.environ.get("SYMFONIA_PG_USER", "postgres"),
}}
# Django 6.0+ ships django.tasks; on 5.2 the backport is an app of its own.
INSTALLED_APPS = [*INSTALLED_APPS, *([] if find_spec("django.tasks") else ["django_tasks"]),  # noqa: F405
                  "django_tasks_db"]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
SYMFONIA_MAIL = {
    "BACKGROUND": True,
    "RETRY_ATTEMPTS": 10,
    "RETRY_BASE_DELAY": float(os.environ.get("SYMFONIA_RETRY_BASE_DELAY", "0.3")),
    "RETRY_MAX_DELAY": 2,
    "STALE_AFTER": float(os.environ.get("SYMFONIA_STALE_AFTER", "600")),
    "REMINDER_CHUNK": int(os.environ.get("SYMFONIA_REMINDER_CHUNK", "50")),
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"symfonia_mail": {"handlers": ["stderr"], "level": "WARNING"}},
}
