"""Exceptions raised by symfonia_mail.

Delivery errors subclass :class:`smtplib.SMTPException` so that the ``except``
clauses written for Django's own SMTP backend (and ``fail_silently``) keep
working; configuration errors also subclass ``ImproperlyConfigured``.
"""

import smtplib
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from .hints import CODES
from .replies import code_for_reply, what_happened


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

    code = "unreadable_password"

    def __init__(self, field_label: str, config_label: str) -> None:
        self.field_label = field_label
        self.config_label = config_label
        super().__init__(
            f"The stored {field_label} of {config_label} cannot be decrypted with the "
            "current FIELD_ENCRYPTION_KEY. Restore the key it was saved with (you can "
            "list several keys, newest first) or enter the password again in the admin."
        )


class _Translatable:
    """An error whose text is a msgid and parameters.

    ``str()`` is English (logs, MailLog.error); ``problems.problem_record``
    stores ``msgid`` and ``params`` so a page renders it in the reader's language.
    """

    msgid = ""
    params: dict[str, Any] = {}

    def _english(self, msgid: str, **params: Any) -> str:
        self.msgid, self.params = msgid, params
        return msgid % params


class _Explained(Exception):
    """``str()`` is what happened plus the plain-language hint of its problem code."""

    code = ""  # a fixed problem code (hints.CODES); empty: read from the server's reply

    def __str__(self) -> str:
        code = self.code or code_for_reply(self)
        return f"{what_happened(self)} — {CODES[code]}"


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


class ServerTimeout(_Translatable, _Explained, DeliveryError, TimeoutError):
    """A server reply did not arrive complete in time (or a deadline ran out)."""

    code = "timeout"

    def __init__(self, stage: str, timeout: float) -> None:
        self.stage = stage
        self.timeout = timeout
        super().__init__(self._english(gettext_noop(
            "The server timed out: its reply (%(stage)s) was not complete within the "
            "timeout of %(timeout)s s or the deadline of the message."),
            stage=stage, timeout=f"{timeout:g}"))


class NotAnSMTPServer(_Translatable, _Explained, DeliveryError,
                      smtplib.SMTPServerDisconnected):
    """The peer did not answer like an SMTP server (its text is never quoted)."""

    code = "not_smtp"

    def __init__(self) -> None:
        super().__init__(self._english(gettext_noop(
            "This service did not answer like an SMTP server.")))


class ServerNotAllowed(_Translatable, DeliveryError, ConfigurationError):
    """The configuration's server is not in SYMFONIA_MAIL["ALLOWED_SERVERS"]."""

    code = "server_not_allowed"

    def __init__(self, server: str) -> None:
        self.server = server
        super().__init__(self._english(gettext_noop(
            "The SMTP server %(server)s is not in SYMFONIA_MAIL['ALLOWED_SERVERS']; only a "
            "superuser can configure it."), server=server))


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


class UnfilledMacro(_Translatable, DeliveryError):
    """A known macro in a message has no value, so the message was not sent (fail closed).

    ``macros`` lists the macro names (Symfonia spelling) without a value.
    """

    def __init__(self, macros: Iterable[str]) -> None:
        self.macros = list(macros)
        names = ", ".join("{" + name + "}" for name in self.macros)
        super().__init__(self._english(gettext_noop(
            "The message uses %(names)s but no value was given for it, so it was not sent "
            "(a customer would have read the macro as written). Pass the value (msg.macros, "
            "mail_context(...) or send_templated(macros=...)) or remove the macro from the "
            "subject, body or template."), names=names))


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


class OAuthError(_Translatable, DeliveryError):
    """An OAuth2 access token could not be obtained, so nothing was sent.

    ``code`` is a stable problem code (a key of ``problems.CODES``, e.g.
    ``oauth_consent_required``); ``error`` and ``error_codes`` are what the
    identity platform answered (``invalid_grant``, ``[65001]``); ``hint`` says
    what to do. *reason* is a msgid (``gettext_noop``) filled with *params*:
    ``str()`` is English, like the log; ``translated()`` is for pages. No
    secret or token is ever part of the text.
    """

    def __init__(self, code: str, reason: str, *, params: Mapping[str, Any] | None = None,
                 error: str = "", error_codes: Iterable[int] = (),
                 description: str = "") -> None:
        self.code = code
        self.error = error
        self.error_codes = tuple(error_codes)
        self.description = description
        self.hint = CODES.get(code, "")  # lazy: shown in the reader's language
        self.provider = " ".join(
            filter(None, (error, *(f"AADSTS{c}" for c in self.error_codes))))
        text = self._english(reason, **(params or {}))
        with translation.override("en"):  # log lines and MailLog are in English
            super().__init__(self._with_provider(text))

    def _with_provider(self, text: str) -> str:
        text = f"{text} ({self.provider})" if self.provider else text
        return f"{text} {self.hint}".strip()

    def translated(self) -> str:
        """Return the message in the active language (a page); ``str()`` is English."""
        return self._with_provider(gettext(self.msgid) % self.params)

    def provider_answer(self) -> str:
        """Return what the identity platform said: error, AADSTS codes, description."""
        codes = " ".join(f"AADSTS{code}" for code in self.error_codes)
        head = " ".join(filter(None, (self.error, codes)))
        return ": ".join(filter(None, (head, self.description))) or self.args[0]


class OAuthLoginRefused(ServerReplyError, smtplib.SMTPAuthenticationError):
    """The SMTP server refused the XOAUTH2 login with a token the provider issued."""

    code = "oauth_login_refused"


class MailApiError(_Explained, DeliveryError):
    """The mailbox API (Microsoft Graph, Gmail API) did not take the message.

    ``code`` is a stable problem code (a key of ``problems.CODES``, e.g.
    ``api_send_as_denied``); ``status`` the HTTP status (0: no answer);
    ``error`` the provider's own error code (``ErrorAccessDenied``,
    ``PERMISSION_DENIED``). ``str()`` is the reason with the hint; never the
    provider's raw answer or a token.
    """

    temporary = False

    def __init__(self, code: str, reason: str, *, status: int = 0, error: str = "",
                 retry_after: float | None = None, outcome_unknown: bool = False) -> None:
        self.code = code
        self.status = status
        self.error = error
        self.retry_after = retry_after  # seconds the service asked us to wait (Retry-After)
        # The request went out and no answer came: the service may have sent the message.
        self.outcome_unknown = outcome_unknown
        super().__init__(reason)


class MailApiTemporaryError(MailApiError):
    """The mailbox API is busy or unavailable (429, 503, 5xx, no connection): try later.

    ``retry_after`` is the wait the service asked for (seconds), or None.
    """

    temporary = True


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
