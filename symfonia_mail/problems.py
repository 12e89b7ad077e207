"""Name what went wrong in an SMTP exchange, and say in plain words what to do.

``classify(exc) -> (code, hint)`` for exceptions raised by smtplib, ssl and
socket (and this app's own delivery errors). Codes are stable identifiers
(keys of ``CODES``); hints are lazy translations. Test SMTP reports them per
step; the backend can reuse them for its log.
"""

import smtplib
import socket
import ssl

from django.utils.translation import gettext

from .exceptions import SymfoniaMailError
from .hints import CODES, GMAIL_HELP, HELP_URLS, MICROSOFT_HELP
from .replies import (
    REFUSED_BY_SERVER,
    code_for_reply,
    format_refused,
    reply_text,
    what_happened,
)

__all__ = [
    "CODES", "GMAIL_HELP", "HELP_URLS", "MICROSOFT_HELP", "classify", "explain",
    "format_refused", "is_delivery_problem", "is_timeout", "reply_text", "what_happened",
]


def classify(exc):
    """Return ``(code, hint)`` naming the problem behind *exc*."""
    code = _code_for(exc)
    return code, CODES[code]


def _code_for(exc):
    own = getattr(exc, "code", "") if isinstance(exc, SymfoniaMailError) else ""
    if own:  # our own errors name their problem (OAuthError, MailApiError, ServerTimeout…)
        return own
    if isinstance(exc, UnicodeError):
        return "non_ascii_text"
    if isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
        return code_for_reply(exc)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        text = str(exc).lower()
        return "starttls_not_offered" if "starttls" in text else "auth_not_offered"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "timeout" if is_timeout(exc) else "disconnected"
    if isinstance(exc, smtplib.SMTPException):
        if "authentication method" in str(exc).lower():
            return "auth_mechanism_unsupported"
        return "recipient_refused" if getattr(exc, "refused", None) else "smtp_error"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "certificate_not_trusted"
    if isinstance(exc, ssl.SSLError):
        reason = (getattr(exc, "reason", "") or "").upper()
        if reason in ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE"):
            return "tls_mismatch"
        return "tls_error"
    for kind, code in _NETWORK_CODES:
        if isinstance(exc, kind):
            return code
    return "network_error"


_NETWORK_CODES = (
    (socket.gaierror, "dns_not_found"),
    (ConnectionRefusedError, "connection_refused"),
    (TimeoutError, "timeout"),
    (ConnectionError, "disconnected"),
)


def is_timeout(exc):
    """Return True when *exc* is, or was caused by, a socket timeout."""
    # smtplib turns a read timeout into SMTPServerDisconnected, raised inside the
    # handler of the TimeoutError, which stays reachable as __context__.
    return isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)



def explain(exc: BaseException) -> str:
    """Return what happened in *exc* plus the plain-language hint (one paragraph)."""
    text: str = what_happened(exc)
    code = _hint_code(exc)
    return f"{text} — {CODES[code]}" if code else text


def _hint_code(exc):
    code = _code_for(exc)
    if code == "smtp_error" and not isinstance(exc, _SERVER_REPLIES):
        return ""  # our own errors (InvalidAddress…) say what to do themselves
    return code


def problem_record(exc, *, text=""):
    """Return *exc* as a stable code and parameters (MailLog.problem), for render_problem().

    The server's words stay as they came; our own sentences are stored as
    msgid and parameters, the hint as its code, so that a page shows the
    problem in the language of whoever reads it. *text*: what to show
    instead of ``what_happened(exc)`` for an error without a msgid.
    """
    record: dict = {}
    refused = getattr(exc, "recipients", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and isinstance(refused, dict):
        record["refused"] = {address: [code, reply_text(reply)]
                             for address, (code, reply) in refused.items()}
    elif getattr(exc, "msgid", ""):
        record["msgid"], record["params"] = exc.msgid, dict(exc.params)
        if getattr(exc, "provider", ""):  # an identity platform's error and AADSTS codes
            record["provider"] = exc.provider
    else:
        record["text"] = text or what_happened(exc)
    if is_delivery_problem(exc) and (code := _hint_code(exc)):
        record["code"] = code
    return record


def render_problem(record):
    """Return the text of a problem_record() in the active language."""
    if "refused" in record:
        refused = {address: tuple(reply) for address, reply in record["refused"].items()}
        text = gettext(REFUSED_BY_SERVER) % {"refused": format_refused(refused)}
    elif "msgid" in record:
        text = gettext(record["msgid"]) % record.get("params", {})
        if record.get("provider"):
            text = f"{text} ({record['provider']})"
        if record.get("cause"):  # what led to it: a record of its own
            text = f"{text} ({render_problem(record['cause'])})"
    else:
        text = record.get("text", "")
    code = record.get("code")
    return f"{text} — {CODES[code]}" if code in CODES else text


_SERVER_REPLIES = (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused)


def is_delivery_problem(exc):
    """Return True for what a server or the network caused (worth a hint in the log)."""
    return isinstance(exc, (*_SERVER_REPLIES, OSError, UnicodeError)) and (
        _code_for(exc) != "smtp_error" or isinstance(exc, _SERVER_REPLIES))
