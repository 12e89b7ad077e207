"""What a server answered, as plain text, and the problem code its words point to.

Pure functions over smtplib, ssl and socket exceptions (no model, no exception of
ours): the exceptions, the problem classification and the signals all build on them.
"""

import smtplib
import ssl
from collections.abc import Mapping


def gettext_noop(message: str) -> str:
    """Mark *message* for translation; Django's own would read settings at import.

    (Django's global_settings does the same: ``conf`` and the exceptions import
    this module before any settings exist, e.g. in the docs build.)
    """
    return message

_MICROSOFT_MARKERS = ("5.7.139", "5.7.30", "basic authentication is not supported",
                      "smtpclientauthentication is disabled")


def code_for_reply(exc: BaseException) -> str:
    """Return the problem code that a server's reply in *exc* points to."""
    replies = replies_of(exc)
    text = " ".join(reply for _code, reply in replies).lower()
    codes = {code for code, _reply in replies}
    if any(marker in text for marker in _MICROSOFT_MARKERS):
        return "app_password_required_microsoft"
    if "application-specific password" in text or (534 in codes and "5.7.9" in text):
        return "app_password_required_gmail"
    if 530 in codes or 538 in codes:
        return "tls_required" if "tls" in text or "encrypt" in text else "auth_required"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "login_refused"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return "sender_refused"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipient_refused"
    if isinstance(exc, smtplib.SMTPDataError):
        return "message_refused"
    if isinstance(exc, smtplib.SMTPConnectError):
        return "greeting_refused"
    return "smtp_error"


def replies_of(exc: BaseException) -> list[tuple[int, str]]:
    """Return [(code, text)] from an smtplib exception (several for refused recipients)."""
    refused = getattr(exc, "recipients", None) or getattr(exc, "refused", None)
    if isinstance(refused, dict):
        return [(code, reply_text(reply)) for code, reply in refused.values()]
    if hasattr(exc, "smtp_error"):
        return [(getattr(exc, "smtp_code", 0), reply_text(exc.smtp_error))]
    return [(0, reply_text(str(exc)))]


def reply_text(value: object) -> str:
    """Return a server reply (bytes or str) as stripped text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip()


def format_refused(refused: Mapping[str, tuple[int, object]]) -> str:
    """Return "a@b (550 5.1.1 user unknown); c@d (...)" for {address: (code, reply)}."""
    return "; ".join(f"{address} ({code} {reply_text(reply)})".replace("\n", " ")
                     for address, (code, reply) in refused.items())


# "Refused by the server: a@b (550 …)": English in logs, translated on pages.
REFUSED_BY_SERVER = gettext_noop("Refused by the server: %(refused)s")


def what_happened(exc: BaseException, *, lines: bool = False) -> str:
    """Return the plain text of *exc*: the server's reply, or what failed, never a repr.

    *lines*: keep a multi-line reply on several lines (else one line).
    """
    refused = getattr(exc, "recipients", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and isinstance(refused, dict):
        return REFUSED_BY_SERVER % {"refused": format_refused(refused)}
    if isinstance(exc, smtplib.SMTPResponseException):
        text = f"{exc.smtp_code} {reply_text(exc.smtp_error)}".strip()
        return text if lines else text.replace("\n", " ")
    if isinstance(exc, UnicodeError):
        # Its text quotes the offending characters, perhaps from the password.
        return f"{type(exc).__name__}: {getattr(exc, 'reason', '')}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{exc.verify_message} ({exc.reason})"
    if isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException):
        # "ConnectionRefusedError: [Errno 111] Connection refused": the class names it.
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    return text or type(exc).__name__
