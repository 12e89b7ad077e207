"""Exceptions raised by symfonia_mail.

Delivery errors subclass :class:`smtplib.SMTPException` so that the ``except``
clauses written for Django's own SMTP backend (and ``fail_silently``) keep
working; configuration errors also subclass ``ImproperlyConfigured``.
"""

import smtplib

from django.core.exceptions import ImproperlyConfigured


class SymfoniaMailError(Exception):
    """Root of every error this app raises."""


class ConfigurationError(SymfoniaMailError, ImproperlyConfigured):
    """The stored or settings configuration cannot be used as it is."""


class DeliveryError(SymfoniaMailError, smtplib.SMTPException):
    """A message could not be delivered to the SMTP server."""


class UnreadableSecretError(DeliveryError, ConfigurationError):
    """A stored password cannot be decrypted with FIELD_ENCRYPTION_KEY.

    django-encrypted-model-fields silently hands back the ciphertext when the
    key does not match; sending that as a password would lock mailboxes, so
    we stop here and say which key to check.
    """

    def __init__(self, field_label, config_label):
        self.field_label = field_label
        self.config_label = config_label
        super().__init__(
            f"The stored {field_label} of {config_label} cannot be decrypted with the "
            "current FIELD_ENCRYPTION_KEY. Restore the key it was saved with (you can "
            "list several keys, newest first) or enter the password again in the admin."
        )


class RecipientsRefused(DeliveryError):
    """The server refused some recipients of a message that others accepted.

    ``refused`` maps each refused address to the server's ``(code, reply)``.
    """

    def __init__(self, refused, message_id=""):
        self.refused = dict(refused)
        self.message_id = message_id
        listed = ", ".join(
            f"{addr} ({code} {_reply_text(reply)})" for addr, (code, reply) in self.refused.items()
        )
        super().__init__(f"The server refused {len(self.refused)} recipient(s): {listed}")


class InvalidAddress(DeliveryError):
    """A stored sender, CC or BCC value is not a list of e-mail addresses.

    Values saved without the admin form (ORM, shell, fixtures) are checked at
    send time; the message fails with this error instead of going out with a
    guessed recipient or header. ``field`` names the configuration field,
    ``entries`` the offending entries.
    """

    LABELS = {"cc": "CC", "bcc": "BCC", "sender_email": "sender address",
              "sender_name": "sender name"}

    def __init__(self, field, config_label, entries):
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

    def __init__(self, macros):
        self.macros = list(macros)
        names = ", ".join("{" + name + "}" for name in self.macros)
        super().__init__(
            f"The message uses {names} but no value was given for it, so it was not sent "
            "(a customer would have read the macro as written). Pass the value (msg.macros, "
            "mail_context(...) or send_templated(macros=...)) or remove the macro from the "
            "subject, body or template."
        )

    def __str__(self):
        return self.args[0]


class InvalidMessageError(SymfoniaMailError, ValueError):
    """A message cannot be sent as given (e.g. control characters in a header)."""


class AttachmentProtectionError(DeliveryError):
    """An attachment could not be password-protected, so the message was not sent."""

    def __init__(self, filename, reason):
        self.filename = filename
        self.reason = reason
        super().__init__(
            f"Attachment {filename!r} could not be password-protected ({reason}); "
            "the message was not sent."
        )

    def __str__(self):
        # SMTPException is an OSError, whose __str__ shows its `filename`
        # attribute ("[Errno None] None: 'a.csv'") instead of the message.
        return self.args[0]


class TransportNotAllowed(ConfigurationError):
    """The operation needs SMTP but the resolved configuration uses another transport."""


def _reply_text(reply):
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return str(reply)


class OAuthError(DeliveryError):
    """An OAuth2 access token could not be obtained, so nothing was sent.

    ``code`` is a stable problem code (a key of ``problems.CODES``, e.g.
    ``oauth_consent_required``); ``error`` and ``error_codes`` are what the
    identity platform answered (``invalid_grant``, ``[65001]``); ``hint`` says
    what to do (translated when shown; the message itself is English, like the
    log). No secret or token is ever part of the text.
    """

    def __init__(self, code, reason, *, error="", error_codes=(), description=""):
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

    def __str__(self):
        return self.args[0]

    def provider_answer(self):
        """Return what the identity platform said: error, AADSTS codes, description."""
        codes = " ".join(f"AADSTS{code}" for code in self.error_codes)
        head = " ".join(filter(None, (self.error, codes)))
        return ": ".join(filter(None, (head, self.description))) or self.args[0]


class OAuthLoginRefused(DeliveryError, smtplib.SMTPAuthenticationError):
    """The SMTP server refused the XOAUTH2 login with a token the provider issued."""

    code = "oauth_login_refused"


class SendCancelled(DeliveryError):
    """A ``pre_send`` receiver cancelled the message (logged as ``cancelled``, not raised)."""
