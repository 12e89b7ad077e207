"""App settings: the ``SYMFONIA_MAIL`` dict, defaults in one place, read lazily.

The merged dict is cached and the cache is cleared on ``setting_changed`` so
``override_settings(SYMFONIA_MAIL=...)`` works in tests.
"""

from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

# The values of ZIP_ENCRYPTION: "aes" (WinZip AES-256, needs 7-Zip & co.) or
# "zipcrypto" (weak, opens in the tools built into Windows and macOS).
ZIP_ENCRYPTIONS = ("aes", "zipcrypto")

DEFAULTS = {
    # Where transport="system" hands messages over (Symfonia's MAPI counterpart): a
    # backend's dotted path or, on Django 6.1+, a MAILERS alias.
    "SYSTEM_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    # Dotted path to callable(user) -> str | None giving a user's "person data".
    "PERSON_NAME": None,
    "ZIP_ENCRYPTION": "aes",  # one of ZIP_ENCRYPTIONS
    # send_messages reads its input in chunks of this many messages; their MailLog
    # rows are written in one bulk insert per chunk.
    "LOG_BATCH_SIZE": 500,
    # Open SMTP connections per backend instance (one per configuration in use);
    # the least recently used is closed first (README "Settings").
    "MAX_CONNECTIONS": 8,
    # Seconds an idle SMTP connection stays open for the next send_mail of the same
    # configuration in this process (no new TCP, TLS and login per call); 0: close it
    # after each call, as Django's backend does (docs/connections.md).
    "KEEP_ALIVE": 30,
    # Cache alias that holds the configuration revision for all processes, so a
    # connection's freshness check needs no query; ignored for a per-process cache.
    "REVISION_CACHE": "default",
    # Deployment-wide switch to accept unverified TLS certificates (internal servers).
    "VERIFY_CERTIFICATES": True,
    # RFC 2920: send MAIL, RCPT and DATA in one write when the server offers PIPELINING.
    "PIPELINING": True,
    # Shell-style host[:port] patterns that non-superusers' configurations must match
    # (e.g. ["smtp.office365.com:587", "*.firma.pl"]); None: no restriction.
    "ALLOWED_SERVERS": None,
    # Test SMTP runs a staff user may start per hour (superusers included); 0: no limit.
    "TEST_SMTP_PER_HOUR": 20,
    # OAuth2 sign-in (XOAUTH2). Settings so that tests can point them at loopback.
    # Microsoft: token endpoint <authority>/<tenant>/oauth2/v2.0/token (found by discovery).
    "MICROSOFT_AUTHORITY": "https://login.microsoftonline.com",
    "GOOGLE_TOKEN_URL": "https://oauth2.googleapis.com/token",
    "GOOGLE_AUTH_URL": "https://accounts.google.com/o/oauth2/v2/auth",
    # Send through the outbox and Django's Tasks framework (README "Background sending").
    "BACKGROUND": False,
    # The Tasks backend alias and queue that background sending uses.
    "TASK_BACKEND": "default",
    "TASK_QUEUE": "default",
    # Temporary failures (4xx, lost connections, timeouts) are retried: at most this many
    # attempts in all, no later than MAX_AGE seconds after queueing, waiting
    # BASE_DELAY * 2**(attempt-1) seconds (capped at MAX_DELAY, with +-50 % jitter).
    "RETRY_ATTEMPTS": 5,
    "RETRY_BASE_DELAY": 60,
    "RETRY_MAX_DELAY": 3600,
    "RETRY_MAX_AGE": 86400,
    # A Tasks backend that cannot defer (the immediate one) retries in-process this many
    # times, after at most INLINE_RETRY_DELAY seconds each, then fails the message.
    "INLINE_RETRIES": 2,
    "INLINE_RETRY_DELAY": 1.0,
    # A message "sending" for longer than this (its worker died) becomes "unknown";
    # a queued one untouched for this long is enqueued again (the claim stops doubles).
    "STALE_AFTER": 600,
    # A background reminder run is split into tasks of this many contractors.
    "REMINDER_CHUNK": 50,
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
