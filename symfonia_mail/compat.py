"""The few places where Django 5.2, 6.0 and 6.1 differ, behind one function each.

Django 6.0 builds messages with the modern ``email.message.EmailMessage``
(``as_bytes()`` takes a policy, not ``linesep``); Django 6.1 adds ``MAILERS``,
``django.core.mail.mailers`` and ``using=``, and deprecates ``EMAIL_BACKEND``,
``EMAIL_*`` and ``get_connection()``.
"""

import email.policy
import re
from email.generator import BytesGenerator
from io import BytesIO

import django
from django.conf import settings
from django.utils.module_loading import import_string

DJANGO_6 = django.VERSION >= (6, 0)
DJANGO_61 = HAS_MAILERS = django.VERSION >= (6, 1)


def message_bytes(email_message):
    """Return (MIME message, bytes with CRLF lines) as Django's SMTP backend sends them."""
    if DJANGO_6:
        mime = email_message.message(policy=email.policy.SMTP)
        return mime, mime.as_bytes()
    mime = email_message.message()
    # As Django's as_bytes(linesep="\r\n"), with a generator that skips folding short headers.
    out = BytesIO()
    _Compat32Generator(out, mangle_from_=False).flatten(mime, linesep="\r\n")
    return mime, out.getvalue()


# A header value that Python's compat32 folding returns unchanged when the line fits:
# printable ASCII words separated by single spaces (tests/test_mimebytes.py compares them).
_UNFOLDED = re.compile(r"[!-~]+(?: [!-~]+)*\Z")


class _Compat32Generator(BytesGenerator):
    """Python's BytesGenerator; a short plain header is written as is instead of folded.

    Folding every header through email.header.Header was a sixth of a single
    send's CPU on Django 5.2 (bench/bench_single.py); for these values its
    output is the input, so the bytes are the same.
    """

    def _write_headers(self, msg):
        policy = self.policy
        if not isinstance(policy, email.policy.Compat32):
            super()._write_headers(msg)
            return
        limit = policy.max_line_length or 0
        linesep = policy.linesep
        for name, value in msg.raw_items():
            if (isinstance(value, str) and (not limit or len(name) + 2 + len(value) <= limit)
                    and _UNFOLDED.match(value)):
                self._fp.write(f"{name}: {value}{linesep}".encode("ascii"))
            else:
                self._fp.write(policy.fold_binary(name, value))
        self.write(self._NL)


def mailers_configured():
    """Return whether the project uses Django 6.1's MAILERS setting."""
    return HAS_MAILERS and hasattr(settings, "MAILERS")


def is_mailer_alias(name):
    """Return whether *name* is an alias of settings.MAILERS (Django 6.1+)."""
    return mailers_configured() and name in settings.MAILERS


def make_backend(name, *, fail_silently=False):
    """Return a backend from a MAILERS alias (6.1+) or a dotted class path.

    Code of this package never calls ``get_connection()``: Django 6.1
    deprecates it, and deprecates creating a backend without a mailer alias;
    there a class path is created as a mailer named after it would be (so
    Django's SMTP backend needs a MAILERS alias: checks.py says so).
    """
    if is_mailer_alias(name):
        from django.core.mail import mailers

        backend = mailers[name]
    elif HAS_MAILERS:
        backend = import_string(name)(alias=name)
    else:
        return import_string(name)(fail_silently=fail_silently)
    # 6.1 mailers take no fail_silently argument; backends read the attribute.
    backend.fail_silently = fail_silently
    return backend


def base_init_kwargs(kwargs):
    """Return the keyword arguments for ``BaseEmailBackend.__init__``.

    On 6.1 it takes the mailer's ``alias`` and reports unknown OPTIONS; on
    5.2/6.0 it ignores everything but ``fail_silently`` (set by the caller).
    """
    return dict(kwargs) if HAS_MAILERS else {}


def message_kwargs(connection):
    """Return ``{"connection": connection}`` for an EmailMessage, except on 6.1.

    Django 6.1 deprecates ``EmailMessage(connection=...)``; callers there send
    with ``connection.send_messages([...])`` or ``send(using=...)``.
    """
    if connection is None or HAS_MAILERS:
        return {}
    return {"connection": connection}


def send_one(message, *, connection=None, fail_silently=False, using=None):
    """Send *message* as ``send()`` would, without calls that Django 6.1 deprecates."""
    if connection is not None:
        return connection.send_messages([message])
    if not HAS_MAILERS:
        return message.send(fail_silently=fail_silently)
    if not fail_silently:
        return message.send(using=using)
    if not message.recipients():
        return 0
    from django.core.mail import mailers

    # 6.1 deprecates send(fail_silently=...): the mailer instance carries it.
    backend = mailers[using or "default"]
    backend.fail_silently = True
    return backend.send_messages([message])


def detach_connection(message):
    """Drop *message*'s reference to a backend (locks and sockets cannot be copied).

    6.1 deprecates the public ``connection`` attribute and keeps the value in
    ``_connection``; setting that one is the only way without a warning.
    """
    if HAS_MAILERS:
        message._connection = None
    else:
        message.connection = None


def addr_spec(value, encoding):
    """Return the envelope address of *value* exactly as Django's SMTP backend does.

    Django 6 deprecates ``sanitize_address()`` and parses with
    ``EmailBackend.prep_address()``, which uses nothing of its instance.
    """
    if DJANGO_6:
        from django.core.mail.backends.smtp import EmailBackend

        return EmailBackend.prep_address(None, value)
    from email.utils import parseaddr

    from django.core.mail.message import sanitize_address

    return parseaddr(sanitize_address(value, encoding))[1]
