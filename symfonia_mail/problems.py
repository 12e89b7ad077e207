"""Name what went wrong in an SMTP exchange, and say in plain words what to do.

``classify(exc) -> (code, hint)`` for exceptions raised by smtplib, ssl and
socket (and this app's own delivery errors). Codes are stable identifiers
(keys of ``CODES``); hints are lazy translations. Test SMTP reports them per
step; the backend can reuse them for its log.
"""

import smtplib
import socket
import ssl

from django.utils.translation import gettext_lazy as _

from .exceptions import (
    NotAnSMTPServer,
    OAuthError,
    OAuthLoginRefused,
    ServerNotAllowed,
    ServerTimeout,
    UnreadableSecretError,
)
from .oauth_codes import OAUTH_CODES, OAUTH_HELP_URLS

GMAIL_HELP = "https://support.google.com/accounts/answer/185833"
MICROSOFT_HELP = (
    "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/"
    "authenticated-client-smtp-submission"
)

# Stable problem codes and their plain-language hints.
CODES = {
    "configuration_incomplete": _(
        "The configuration is incomplete: enter the SMTP server and the sender address."
    ),
    "unreadable_password": _(
        "The stored password cannot be decrypted with the current FIELD_ENCRYPTION_KEY. "
        "Restore the key it was saved with or enter the password again."
    ),
    "connection_refused": _(
        "Nothing accepts connections on this server and port. Check the server name and "
        "the port (587 for STARTTLS, 465 for SSL/TLS, 25 for unencrypted) and whether a "
        "firewall blocks it."
    ),
    "dns_not_found": _(
        "The server name was not found in DNS. Check its spelling, e.g. smtp.example.com."
    ),
    "network_error": _(
        "The server cannot be reached over the network. Check the server name, the "
        "port and the network or firewall of this computer."
    ),
    "connect_timeout": _(
        "The server did not accept the connection in time. Check the server name, the "
        "port and whether a firewall drops the connection."
    ),
    "timeout": _(
        "The server did not answer within the response timeout. A port that expects "
        "SSL/TLS from the start (usually 465) stays silent for a plain or STARTTLS "
        "connection: check the security setting. A slow server needs a longer timeout."
    ),
    "tls_mismatch": _(
        "The connection security does not match the port: SSL/TLS from the start on a "
        "port that expects plain text or STARTTLS, or the other way round. Use STARTTLS "
        "for port 587 (or 25) and SSL/TLS for port 465."
    ),
    "tls_error": _(
        "The encrypted connection could not be set up. Check the connection security "
        "setting and the port."
    ),
    "certificate_not_trusted": _(
        "The server's certificate is not trusted (self-signed, issued by an unknown "
        "authority, or for another name). Use the name the certificate was issued for; "
        "for a server signed by your company's own certificate authority, paste that "
        "authority's certificate into “trusted CA certificates (PEM)” of this mail "
        "configuration (every program that sends through it then trusts it); only as a "
        "last resort, for an internal server, turn off certificate verification."
    ),
    "starttls_not_offered": _(
        "The server does not offer STARTTLS on this port, and the message will not be "
        "sent unencrypted. Use the port for STARTTLS (usually 587) or SSL/TLS (465)."
    ),
    "tls_required": _(
        "The server requires an encrypted connection. Choose STARTTLS (port 587) or "
        "SSL/TLS (port 465)."
    ),
    "auth_not_offered": _(
        "The server does not offer login (SMTP AUTH) on this connection. Many servers "
        "offer it only after STARTTLS or on port 587; or leave the user name empty if "
        "this server needs no login."
    ),
    "auth_mechanism_unsupported": _(
        "The server offers no password login method this application supports "
        "(PLAIN, LOGIN or CRAM-MD5); it may accept only OAuth."
    ),
    "auth_required": _(
        "The server requires a login before it accepts mail: enter the user name and "
        "the password."
    ),
    "login_refused": _(
        "The server refused the user name or password. Check both. Accounts with "
        "two-step verification (e.g. Gmail, Microsoft 365) need an app password."
    ),
    "app_password_required": _(
        "The account uses two-step verification, which password login over SMTP does "
        "not support. Create an app password for this mailbox and enter it as the password."
    ),
    "app_password_required_gmail": _(
        "Gmail refused the normal password because the account uses two-step "
        "verification, which password login over SMTP does not support. Create an app "
        "password (Google Account > Security > App passwords) and enter it as the "
        "password. Help: https://support.google.com/accounts/answer/185833"
    ),
    "app_password_required_microsoft": _(
        "Microsoft 365 refused the password login. If the password is right, basic "
        "authentication (user name and password) is disabled for this mailbox or "
        "organisation, or the account uses two-step verification, which password login "
        "does not support. Choose the sign-in method “Microsoft 365 (OAuth2)” (Microsoft "
        "turns password sign-in for SMTP off by default at the end of December 2026), or "
        "ask the "
        "administrator to enable authenticated SMTP for the mailbox. Help: "
        "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/"
        "authenticated-client-smtp-submission"
    ),
    "sender_refused": _(
        "The server refused the sender address. Use an address of the mailbox you log "
        "in with (or one it may send as)."
    ),
    "recipient_refused": _(
        "The server refused a recipient. Check the sender, CC and BCC addresses; a "
        "server that refuses to relay usually needs a login."
    ),
    "message_refused": _("The server refused the message itself after its content was sent."),
    "greeting_refused": _("The server answered the connection with a refusal."),
    "disconnected": _(
        "The server closed the connection unexpectedly. Check the port and the "
        "connection security."
    ),
    "smtp_error": _("The server answered with an error."),
    "non_ascii_text": _(
        "The user name, the password or an address contains characters outside ASCII "
        "(e.g. Polish letters) that could not be sent to the server. Use an app password "
        "or a password without such letters, and addresses the server accepts."
    ),
    "not_smtp": _(
        "This service did not answer like an SMTP server. Check the server name and "
        "the port."
    ),
    "rate_limited": _(
        "Test SMTP was run too often in the last hour. Wait a while and try again."
    ),
    "server_not_allowed": _(
        "This server is not on the list of servers allowed for mail configurations "
        "(ALLOWED_SERVERS in the site settings). Ask the site administrator."
    ),
    "dsn_not_offered": _(
        "The server does not advertise delivery status notifications (DSN): messages "
        "go out without them."
    ),
    "plaintext_login": _(
        "The password is sent unencrypted. Choose STARTTLS or SSL/TLS if the server "
        "supports it."
    ),
    "imap_login_refused": _(
        "The IMAP server refused the login. Check the IMAP user name and password (empty: "
        "the SMTP ones are used); Microsoft 365 and Gmail need IMAP switched on for the "
        "mailbox, and OAuth2 sign-ins the IMAP permission."
    ),
    "imap_folder_missing": _(
        "The delivery reports folder does not exist in this mailbox. Enter the name of the "
        "folder where reports arrive (usually INBOX)."
    ),
    "imap_sent_missing": _(
        "No Sent folder was found (none is marked as Sent, none has a usual name): enter "
        "its name in the configuration, or sent messages are not filed."
    ),
    "imap_error": _("The IMAP server answered with an error."),
}

CODES.update(OAUTH_CODES)

HELP_URLS = {
    "app_password_required_gmail": GMAIL_HELP,
    "app_password_required_microsoft": MICROSOFT_HELP,
    **OAUTH_HELP_URLS,
}

_MICROSOFT_MARKERS = ("5.7.139", "5.7.30", "basic authentication is not supported",
                      "smtpclientauthentication is disabled")


def classify(exc):
    """Return ``(code, hint)`` naming the problem behind *exc*."""
    code = _code_for(exc)
    return code, CODES[code]


def _code_for(exc):
    if isinstance(exc, OAuthError | OAuthLoginRefused):
        return exc.code
    for kind, code in _OWN_CODES:
        if isinstance(exc, kind):
            return code
    if isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
        return _code_for_reply(exc)
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


# First match wins: subclasses before their bases.
_OWN_CODES = (
    (ServerNotAllowed, "server_not_allowed"),
    (NotAnSMTPServer, "not_smtp"),
    (ServerTimeout, "timeout"),
    (UnreadableSecretError, "unreadable_password"),
    (UnicodeError, "non_ascii_text"),
)
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


def _code_for_reply(exc):
    replies = _replies_of(exc)
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


def _replies_of(exc):
    """Return [(code, text)] from an smtplib exception (several for refused recipients)."""
    refused = getattr(exc, "recipients", None) or getattr(exc, "refused", None)
    if isinstance(refused, dict):
        return [(code, reply_text(reply)) for code, reply in refused.values()]
    if hasattr(exc, "smtp_error"):
        return [(exc.smtp_code, reply_text(exc.smtp_error))]
    return [(0, reply_text(str(exc)))]


def reply_text(value: object) -> str:
    """Return a server reply (bytes or str) as stripped text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip()


def format_refused(refused):
    """Return "a@b (550 5.1.1 user unknown); c@d (...)" for {address: (code, reply)}."""
    return "; ".join(f"{address} ({code} {reply_text(reply)})".replace("\n", " ")
                     for address, (code, reply) in refused.items())


def what_happened(exc, *, lines=False):
    """Return the plain text of *exc*: the server's reply, or what failed, never a repr.

    *lines*: keep a multi-line reply on several lines (else one line).
    """
    refused = getattr(exc, "recipients", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and isinstance(refused, dict):
        return f"Refused by the server: {format_refused(refused)}"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = f"{exc.smtp_code} {reply_text(exc.smtp_error)}".strip()
        return text if lines else text.replace("\n", " ")
    if isinstance(exc, UnicodeError):
        # Its text quotes the offending characters, perhaps from the password.
        return f"{type(exc).__name__}: {exc.reason}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{exc.verify_message} ({exc.reason})"
    if isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException):
        # "ConnectionRefusedError: [Errno 111] Connection refused": the class names it.
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    return text or type(exc).__name__


def explain(exc: BaseException) -> str:
    """Return what happened in *exc* plus the plain-language hint (one paragraph)."""
    text: str = what_happened(exc)
    code = _code_for(exc)
    if code == "smtp_error" and not isinstance(exc, _SERVER_REPLIES):
        return text  # our own errors (InvalidAddress…) say what to do themselves
    return f"{text} — {CODES[code]}"


_SERVER_REPLIES = (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused)


def is_delivery_problem(exc):
    """Return True for what a server or the network caused (worth a hint in the log)."""
    return isinstance(exc, (*_SERVER_REPLIES, OSError, UnicodeError)) and (
        _code_for(exc) != "smtp_error" or isinstance(exc, _SERVER_REPLIES))
