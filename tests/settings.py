"""Settings for the test suite (a host project as docs/integrator-guide.md "Installation" shows)."""

import sys
from pathlib import Path

import django

# The example project's apps (sales) are tested here too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "example_project"))

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "Europe/Warsaw"
LANGUAGE_CODE = "pl"
LANGUAGES = [("pl", "Polski"), ("en", "English")]
USE_I18N = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "symfonia_mail",
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
]
if django.VERSION >= (6, 0):
    # Adds no header while SECURE_CSP is empty; tests/test_browser_csp.py sets a strict one.
    MIDDLEWARE.append("django.middleware.csp.ContentSecurityPolicyMiddleware")
ROOT_URLCONF = "tests.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test logins

BACKEND = "symfonia_mail.backends.ConfiguredEmailBackend"
if django.VERSION >= (6, 1):
    # Django 6.1 deprecates EMAIL_BACKEND; MAILERS with no OPTIONS must work (issue 9).
    # transport="system" goes through a mailer alias of its own (checks.py W011).
    MAILERS = {
        "default": {"BACKEND": BACKEND},
        "system": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                   "OPTIONS": {"host": "localhost"}},
    }
else:
    EMAIL_BACKEND = BACKEND
DEFAULT_FROM_EMAIL = "webmaster@localhost"
# A throwaway test key (Fernet); never use it outside tests.
FIELD_ENCRYPTION_KEY = "1kBzrjKphtTwXxtuYXvg43JijZhjSwMQjyEq-Pq_zzY="
SYMFONIA_MAIL = {"SYSTEM_BACKEND": "system"} if django.VERSION >= (6, 1) else {}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"symfonia_mail": {"handlers": ["null"], "level": "DEBUG", "propagate": True}},
}
