"""App settings: the ``SYMFONIA_MAIL`` dict, defaults in one place, read lazily.

The merged dict is cached and the cache is cleared on ``setting_changed`` so
``override_settings(SYMFONIA_MAIL=...)`` works in tests.
"""

from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS = {
    # Where transport="system" hands messages over (Symfonia's MAPI counterpart).
    "SYSTEM_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    # Dotted path to callable(user) -> str | None giving a user's "person data".
    "PERSON_NAME": None,
    # "aes" (WinZip AES-256, needs 7-Zip & co.) or "zipcrypto" (weak, opens everywhere).
    "ZIP_ENCRYPTION": "aes",
    # MailLog rows are written in bulk; at most this many wait in memory.
    "LOG_BATCH_SIZE": 500,
    # Deployment-wide switch to accept unverified TLS certificates (internal servers).
    "VERIFY_CERTIFICATES": True,
    # OAuth2 sign-in (XOAUTH2). Settings so that tests can point them at loopback.
    # Microsoft: token endpoint <authority>/<tenant>/oauth2/v2.0/token (found by discovery).
    "MICROSOFT_AUTHORITY": "https://login.microsoftonline.com",
    "GOOGLE_TOKEN_URL": "https://oauth2.googleapis.com/token",
    "GOOGLE_AUTH_URL": "https://accounts.google.com/o/oauth2/v2/auth",
}


@lru_cache(maxsize=1)
def app_settings():
    """Return the SYMFONIA_MAIL settings merged over the defaults."""
    user = getattr(settings, "SYMFONIA_MAIL", None) or {}
    unknown = set(user) - set(DEFAULTS)
    if unknown:
        from .exceptions import ConfigurationError

        raise ConfigurationError(
            f"Unknown SYMFONIA_MAIL key(s): {', '.join(sorted(unknown))}. "
            f"Known keys: {', '.join(sorted(DEFAULTS))}."
        )
    return {**DEFAULTS, **user}


def get(name):
    """Return one app setting."""
    return app_settings()[name]


@receiver(setting_changed)
def _clear_cache(*, setting, **kwargs):
    if setting == "SYMFONIA_MAIL":
        app_settings.cache_clear()
