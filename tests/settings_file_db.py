"""Test settings on a file SQLite database (path in SYMFONIA_TEST_DB), for tests that
run several OS processes against one database: writers wait for each other."""

import os

from .settings import *  # noqa: F403

DATABASES = {"default": {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": os.environ["SYMFONIA_TEST_DB"],
    "OPTIONS": {"timeout": 60},  # seconds a writer waits for the other process's lock
}}
