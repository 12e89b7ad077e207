"""A host project configured as symfonia_mail's README shows (SQLite)."""

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent
# Each Django version keeps its own database and files (the 5.2 and 6.1 demos side by
# side would otherwise migrate one database back and forth).
VAR_DIR = Path(os.environ.get(
    "DEMO_VAR_DIR", BASE_DIR / "var" / "django{}.{}".format(*django.VERSION[:2])))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "symfonia_mail",
    "demo",
    "sales",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "symfonia_mail.middleware.CurrentUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "example_project.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [BASE_DIR / "templates"],  # admin/base_site.html: the language switch
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
WSGI_APPLICATION = "example_project.wsgi.application"
DATABASES = {"default": {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": os.environ.get("DEMO_DB", VAR_DIR / "db.sqlite3"),
}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "pl"
LANGUAGES = [("pl", "Polski"), ("en", "English")]
TIME_ZONE = "Europe/Warsaw"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"

# symfonia_mail (README "Adding it to a project")
if django.VERSION >= (6, 1):
    # Django 6.1+: MAILERS replaces EMAIL_BACKEND; transport="system" uses its own alias.
    MAILERS = {
        "default": {"BACKEND": "symfonia_mail.backends.ConfiguredEmailBackend"},
        "system": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                   "OPTIONS": {"host": "localhost", "port": 25}},
    }
else:
    EMAIL_BACKEND = "symfonia_mail.backends.ConfiguredEmailBackend"
# A demo key so `make demo` runs as is; a real project reads it from its secrets store.
FIELD_ENCRYPTION_KEY = os.environ.get(
    "FIELD_ENCRYPTION_KEY", "Xz6XGz4wCeqUSxzrT9CnM0pW6qVmiMh7gkEOCe4oAAs="
)
SYMFONIA_MAIL = {"SYSTEM_BACKEND": "system"} if django.VERSION >= (6, 1) else {}
# `make demo BACKGROUND=1`: background sending through the outbox, run by the Tasks
# framework's immediate backend (no worker to start: each task runs when it is enqueued).
if os.environ.get("DEMO_BACKGROUND") == "1":
    SYMFONIA_MAIL["BACKGROUND"] = True
    if django.VERSION >= (6, 0):
        TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    else:  # the django-tasks backport (the demo extra installs it)
        INSTALLED_APPS.append("django_tasks")
        TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"short": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "short"}},
    "loggers": {
        "symfonia_mail": {"handlers": ["console"], "level": "INFO"},
        # The capture server: one line per connection, message, refusal, TLS failure.
        "demo": {"handlers": ["console"], "level": "INFO"},
    },
}
