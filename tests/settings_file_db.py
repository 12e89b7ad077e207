"""Test settings on a database that several OS processes share (writers wait for each other).

A file SQLite database at SYMFONIA_TEST_DB, or, when SYMFONIA_PG_HOST is set,
the PostgreSQL server of tests/pg.py (its env() gives the SYMFONIA_PG_* variables).
Sending stays synchronous (no BACKGROUND), unlike tests/settings_pg.py.
"""

import os

from .settings import *  # noqa: F403

if os.environ.get("SYMFONIA_PG_HOST"):
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ["SYMFONIA_PG_HOST"],
        "PORT": os.environ["SYMFONIA_PG_PORT"],
        "NAME": os.environ["SYMFONIA_PG_NAME"],
        "USER": os.environ["SYMFONIA_PG_USER"],
    }}
else:
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["SYMFONIA_TEST_DB"],
        "OPTIONS": {"timeout": 60},  # seconds a writer waits for the other process's lock
    }}
