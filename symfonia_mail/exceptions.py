"""Exceptions raised by symfonia_mail.

Delivery errors subclass :class:`smtplib.SMTPException` so that the ``except``
clauses written for Django's own SMTP backend (and ``fail_silently``) keep
working; configuration errors also subclass ``ImproperlyConfigured``.
"""

import smtplib
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured


class SymfoniaMailError(Exception):
    """Root of every error this app raises."""


class ConfigurationError(SymfoniaMailError, ImproperlyConfigured):
    """The stored or settings configuration cannot be used as it is."""


class DeliveryError(SymfoniaMailError, smtplib.SMTPException):
    """A message could not be delivered to the SMTP server."""

    def __str__(self) -> str:
        # SMTPException is an OSError, whose __str__ shows "[Errno ...]" or a `filename`
        # attribute ("[Errno None] None: 'a.csv'") instead of the message.
        return str(self.args[0]) if self.args else super().__str__()


class UnreadableSecretError(DeliveryError, ConfigurationError):
    """A stored password cannot be decrypted with FIELD_ENCRYPTION_KEY.

    django-encrypted-model-fields silently hands back the ciphertext when the
    key does not match; sending that as a password would lock mailboxes, so
    we stop here and say which key to check.
    """

    def __init__(self, field_label: str, config_label: str) -> None:
        self.field_label = field_label
        self.config_label = config_label
        super().__init__(
            f"The stored {field_label} of {config_label} cannot be decrypted with the "
            "current FIELD_ENCRYPTION_KEY. Restore the key it was saved with (you can "
            "list several keys, newest first) or enter the password again in the admin."
        )


class _Explained(Exception):
    """``str()`` is the plain-language reason with a hint (problems.explain)."""

    def __str__(self) -> str:
        from .problems import explain  # problems imports this module

        return explain(self)


class ServerReplyError(_Explained, DeliveryError, smtplib.SMTPResponseException):
    """The server answered with an error; ``str()`` gives its reply and a hint.

    ``smtp_code`` / ``smtp_error`` as smtplib's exceptions (the text is a
    ``str``, scrubbed of login secrets).
    """


class GreetingRefused(ServerReplyError, smtplib.SMTPConnectError):
    """The server greeted the connection with a refusal instead of 220."""


class HeloRefused(ServerReplyError, smtplib.SMTPHeloError):
    """The server refused EHLO and HELO."""


class AuthenticationFailed(ServerReplyError, smtplib.SMTPAuthenticationError):
    """The server refused the login."""


class SenderRefused(ServerReplyError, smtplib.SMTPSenderRefused):
    """The server refused the sender (MAIL FROM)."""


class MessageRefused(ServerReplyError, smtplib.SMTPDataError):
    """The server refused the message (DATA or its content)."""


class RecipientsRefused(_Explained, DeliveryError, smtplib.SMTPRecipientsRefused):
    """The server refused some or all recipients of a message.

    ``refused`` (and smtplib's ``recipients``) maps each refused address to
    the server's ``(code, reply text)``. ``delivered``: the server took the
    message for the other recipients (a partial refusal).
    """

    def __init__(self, refused: Mapping[str, tuple[int, Any]], message_id: str = "", *,
                 delivered: bool = False) -> None:
        self.refused = dict(refused)
        self.recipients = self.refused
        self.message_id = message_id
        self.delivered = delivered
        super().__init__(self.refused)
        self.args = (self.refused,)


class ConfigurationIncomplete(DeliveryError, ConfigurationError):
    """The configuration has no SMTP server, so nothing can be sent through it.

    Django's SMTP backend would fall back to ``EMAIL_HOST``; sending somewhere
    the administrator did not choose is worse than failing, so we say what to fill in.
    """

    def __init__(self, config_label: str, missing: str = "host") -> None:
        self.config_label = config_label
        self.missing = missing
        super().__init__(
            f"{config_label[:1].upper()}{config_label[1:]} has no SMTP server ({missing}). "
            "Fill it in the admin (Mail configuration) or choose the 'system' transport."
        )

    def __str__(self) -> str:
        return str(self.args[0])  # not OSError's "[Errno ...]" form


class ServerTimeout(_Explained, DeliveryError, TimeoutError):
    """A server reply did not arrive complete in time (or a deadline ran out)."""

    def __init__(self, stage: str, timeout: float) -> None:
        self.stage = stage
        self.timeout = timeout
        super().__init__(
            f"The server timed out: its reply ({stage}) was not complete within the "
            f"timeout of {timeout:g} s or the deadline of the message."
        )


class NotAnSMTPServer(_Explained, DeliveryError, smtplib.SMTPServerDisconnected):
    """The peer did not answer like an SMTP server (its text is never quoted)."""

    def __init__(self) -> None:
        super().__init__("This service did not answer like an SMTP server.")


class ServerNotAllowed(DeliveryError, ConfigurationError):
    """The configuration's server is not in SYMFONIA_MAIL["ALLOWED_SERVERS"]."""

    def __init__(self, server: str) -> None:
        self.server = server
        super().__init__(
            f"The SMTP server {server} is not in SYMFONIA_MAIL['ALLOWED_SERVERS']; only a "
            "superuser can configure it."
        )


class InvalidAddress(DeliveryError):
    """A stored sender, CC or BCC value is not a list of e-mail addresses.

    Values saved without the admin form (ORM, shell, fixtures) are checked at
    send time; the message fails with this error instead of going out with a
    guessed recipient or header. ``field`` names the configuration field,
    ``entries`` the offending entries.
    """

    LABELS = {"cc": "CC", "bcc": "BCC", "sender_email": "sender address",
              "sender_name": "sender name"}

    def __init__(self, field: str, config_label: str, entries: Iterable[str]) -> None:
        self.field = field
        self.entries = tuple(entries)
        shown = ", ".join(repr(entry) for entry in self.entries)
        super().__init__(
            f"The {self.LABELS.get(field, field)} ({field}) of {config_label} is not a valid "
            f"list of e-mail addresses: {shown}. Correct it in the mail configuration; the "
            "message was not sent."
        )


class UnfilledMacro(DeliveryError):
    """A known macro in a message has no value, so the message was not sent (fail closed).

    ``macros`` lists the macro names (Symfonia spelling) without a value.
    """

    def __init__(self, macros: Iterable[str]) -> None:
        self.macros = list(macros)
        names = ", ".join("{" + name + "}" for name in self.macros)
        super().__init__(
            f"The message uses {names} but no value was given for it, so it was not sent "
            "(a customer would have read the macro as written). Pass the value (msg.macros, "
            "mail_context(...) or send_templated(macros=...)) or remove the macro from the "
            "subject, body or template."
        )


class InvalidMessageError(SymfoniaMailError, ValueError):
    """A message cannot be sent as given (e.g. control characters in a header)."""


class AttachmentProtectionError(DeliveryError):
    """An attachment could not be password-protected, so the message was not sent."""

    def __init__(self, filename: str, reason: str) -> None:
        self.filename = filename
        self.reason = reason
        super().__init__(
            f"Attachment {filename!r} could not be password-protected ({reason}); "
            "the message was not sent."
        )


class TransportNotAllowed(ConfigurationError):
    """The operation needs SMTP but the resolved configuration uses another transport."""


class OAuthError(DeliveryError):
    """An OAuth2 access token could not be obtained, so nothing was sent.

    ``code`` is a stable problem code (a key of ``problems.CODES``, e.g.
    ``oauth_consent_required``); ``error`` and ``error_codes`` are what the
    identity platform answered (``invalid_grant``, ``[65001]``); ``hint`` says
    what to do (translated when shown; the message itself is English, like the
    log). No secret or token is ever part of the text.
    """

    def __init__(self, code: str, reason: str, *, error: str = "",
                 error_codes: Iterable[int] = (), description: str = "") -> None:
        from django.utils import translation

        from .problems import CODES  # problems imports this module

        self.code = code
        self.error = error
        self.error_codes = tuple(error_codes)
        self.description = description
        self.hint = CODES.get(code, "")  # lazy: shown in the reader's language
        provider = " ".join(filter(None, (error, *(f"AADSTS{c}" for c in self.error_codes))))
        text = f"{reason} ({provider})" if provider else reason
        with translation.override("en"):  # log lines and MailLog are in English
            super().__init__(f"{text} {self.hint}".strip())

    def provider_answer(self) -> str:
        """Return what the identity platform said: error, AADSTS codes, description."""
        codes = " ".join(f"AADSTS{code}" for code in self.error_codes)
        head = " ".join(filter(None, (self.error, codes)))
        return ": ".join(filter(None, (head, self.description))) or self.args[0]


class OAuthLoginRefused(ServerReplyError, smtplib.SMTPAuthenticationError):
    """The SMTP server refused the XOAUTH2 login with a token the provider issued."""

    code = "oauth_login_refused"


class MailboxError(SymfoniaMailError, OSError):
    """The IMAP mailbox (delivery reports, the Sent copy) could not be used.

    ``stage`` says which step failed (connect, tls, login, list, select,
    fetch, store, append); the text names the server and never a secret.
    """

    def __init__(self, stage: str, reason: str, cause: BaseException | None = None) -> None:
        self.stage = stage
        self.cause = cause  # the socket, TLS or IMAP error behind it (for its hint)
        super().__init__(reason)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else super().__str__()


class SendCancelled(DeliveryError):
    """A ``pre_send`` receiver cancelled the message (logged as ``cancelled``, not raised)."""
