"""App settings: the ``SYMFONIA_MAIL`` dict, defaults in one place, read lazily.

The merged dict is cached and the cache is cleared on ``setting_changed`` so
``override_settings(SYMFONIA_MAIL=...)`` works in tests.
"""

from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from .exceptions import ConfigurationError

# The values of ZIP_ENCRYPTION: "aes" (WinZip AES-256, needs 7-Zip & co.) or
# "zipcrypto" (weak, opens in the tools built into Windows and macOS).
ZIP_ENCRYPTIONS = ("aes", "zipcrypto")

DEFAULTS = {
    # Where transport="system" hands messages over (Symfonia's MAPI counterpart): a
    # backend's dotted path or, on Django 6.1+, a MAILERS alias.
    "SYSTEM_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    # Dotted path to callable(user) -> str | None giving a user's "person data" (the
    # {wysyłający} / {wystawiający} macros); None: the user's full name.
    "PERSON_NAME": None,
    # How non-PDF attachments are zipped: "aes" (AES-256) or "zipcrypto" (weak, opens in
    # the Windows and macOS built-in tools); PDFs are not affected.
    "ZIP_ENCRYPTION": "aes",  # one of ZIP_ENCRYPTIONS
    # send_messages reads its input in chunks of this many messages; each chunk's
    # configurations are resolved with one query and its MailLog rows written in one bulk
    # insert (so a generator of any length is sent in flat memory).
    "LOG_BATCH_SIZE": 500,
    # A send outside any transaction hands its MailLog rows to a thread of the process,
    # which writes them within milliseconds: send_mail returns at the server's reply, not
    # after a database commit. Reads of the log in the process wait for them. False: the
    # caller writes its rows before send_mail returns (docs/connections.md).
    "LOG_WRITER": True,
    # Open SMTP connections per backend instance (one per configuration in use);
    # the least recently used is closed first.
    "MAX_CONNECTIONS": 8,
    # Seconds an idle SMTP connection stays open for the next send_mail of the same
    # configuration in this process (no new TCP, TLS and login per call); 0: close it
    # after each call, as Django's backend does (docs/connections.md).
    "KEEP_ALIVE": 30,
    # Cache alias that holds the configuration revision for all processes, so a
    # connection's freshness check needs no query; used only when that cache is shared by
    # processes (Redis, Memcached, files, database; not the local-memory default), else
    # one primary-key query per connection. None: always query.
    "REVISION_CACHE": "default",
    # On PostgreSQL (psycopg 3), a send_mail's freshness query leaves as the call starts,
    # on a database connection of its own (one per thread that sends), and its answer is
    # read before the message's content: it costs no waiting. False: ask on Django's
    # connection, before the content too (docs/connections.md, "Fresh without waiting").
    "FRESHNESS_CONNECTION": True,
    # Deployment-wide switch: False accepts unverified TLS certificates everywhere
    # (internal servers; warning symfonia_mail.W001).
    "VERIFY_CERTIFICATES": True,
    # RFC 2920: send MAIL, RCPT and DATA in one write when the server offers PIPELINING.
    "PIPELINING": True,
    # Shell-style host[:port] patterns that non-superusers' configurations must match
    # (e.g. ["smtp.office365.com:587", "*.firma.pl"]): in the admin form, in Test SMTP and
    # when sending through their own configuration (ServerNotAllowed); None: no restriction.
    "ALLOWED_SERVERS": None,
    # Test SMTP runs a staff user may start per hour (superusers included; counted from
    # the MailLog rows of kind "test"; the shell command is not limited); 0: no limit.
    "TEST_SMTP_PER_HOUR": 20,
    # OAuth2 sign-in (XOAUTH2). Settings so that tests can point them at loopback.
    # Microsoft identity platform: token endpoint <authority>/<tenant>/oauth2/v2.0/token,
    # found through <authority>/<tenant>/v2.0/.well-known/openid-configuration (national
    # clouds).
    "MICROSOFT_AUTHORITY": "https://login.microsoftonline.com",
    # Google's token endpoint.
    "GOOGLE_TOKEN_URL": "https://oauth2.googleapis.com/token",
    # Google's sign-in page ("Connect Google account").
    "GOOGLE_AUTH_URL": "https://accounts.google.com/o/oauth2/v2/auth",
    # Mailbox API transports (docs/mailbox-api.md). Settings so that tests can point
    # them at loopback. Microsoft Graph: POST <GRAPH_URL>/v1.0/users/<mailbox>/sendMail.
    "GRAPH_URL": "https://graph.microsoft.com",
    # Gmail API: POST <GMAIL_API_URL>/gmail/v1/users/me/messages/send (and /upload/...).
    "GMAIL_API_URL": "https://gmail.googleapis.com",
    # Send through the outbox and Django's Tasks framework (docs/background.md).
    "BACKGROUND": False,
    # The TASKS alias that background sending uses.
    "TASK_BACKEND": "default",
    # The queue that background sending's tasks go to.
    "TASK_QUEUE": "default",
    # Temporary failures (4xx, lost connections, timeouts) are retried: at most this many
    # attempts in all, no later than MAX_AGE seconds after queueing, waiting
    # BASE_DELAY * 2**(attempt-1) seconds (capped at MAX_DELAY, with +-50 % jitter).
    "RETRY_ATTEMPTS": 5,
    # Seconds before the first retry; doubled for each further attempt.
    "RETRY_BASE_DELAY": 60,
    # The longest wait between two attempts, in seconds.
    "RETRY_MAX_DELAY": 3600,
    # No retry later than this many seconds after queueing: the message is failed.
    "RETRY_MAX_AGE": 86400,
    # A Tasks backend that cannot defer (the immediate one) retries in-process this many
    # times, after at most INLINE_RETRY_DELAY seconds each, then fails the message.
    "INLINE_RETRIES": 2,
    # The longest wait, in seconds, before each of those in-process retries.
    "INLINE_RETRY_DELAY": 1.0,
    # A message "sending" for longer than this (its worker died) becomes "unknown";
    # a queued one untouched for this long is enqueued again (the claim stops doubles);
    # a reminder run without progress for this long has its unfinished chunks enqueued again.
    "STALE_AFTER": 600,
    # A background reminder run is split into tasks of this many contractors.
    "REMINDER_CHUNK": 50,
    # With BACKGROUND, the workers read delivery reports from each configuration's IMAP
    # mailbox at most once every this many seconds (symfonia_mail_fetch_reports).
    "REPORTS_INTERVAL": 300,
    # New messages of a reports folder looked at per configuration and run, oldest
    # first; the rest wait for the next run.
    "REPORTS_BATCH": 500,
}


@lru_cache(maxsize=1)
def app_settings():
    """Return the SYMFONIA_MAIL settings merged over the defaults."""
    user = getattr(settings, "SYMFONIA_MAIL", None) or {}
    unknown = set(user) - set(DEFAULTS)
    if unknown:
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
