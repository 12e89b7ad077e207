"""The choices the configuration and the log share: transport, security, sign-in, scope."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Transport(models.TextChoices):
    """How a message leaves: this app speaks SMTP, or the host's own mail route."""

    SMTP = "smtp", _("SMTP (this application talks to the mail server)")
    SYSTEM = "system", _("System (the site's default mail route)")
    # The mailbox's own API (docs/mailbox-api.md): no SMTP AUTH, the provider files the
    # message in Sent; each needs its provider's OAuth2 sign-in (API_SIGN_IN).
    MICROSOFT_GRAPH = "microsoft_graph", _("Microsoft Graph (the Microsoft 365 mailbox's API)")
    GMAIL_API = "gmail_api", _("Gmail API (the Google Workspace or Gmail mailbox's API)")


# The sign-in each API transport needs.
API_SIGN_IN = {Transport.MICROSOFT_GRAPH: "microsoft365", Transport.GMAIL_API: "google"}


class Security(models.TextChoices):
    """How the SMTP connection is encrypted."""

    NONE = "none", _("None (plain text)")
    STARTTLS = "starttls", _("STARTTLS (usually port 587)")
    SSL = "ssl", _("SSL/TLS from the start (usually port 465)")


class SentCopy(models.TextChoices):
    """Whether each sent message is also appended to the mailbox's Sent folder (IMAP)."""

    AUTO = "auto", _("Automatic (not for Microsoft 365 and Gmail, which keep their own copy)")
    ALWAYS = "always", _("Always")
    NEVER = "never", _("Never")


class AuthMethod(models.TextChoices):
    """How the app signs in to the server: a password, or OAuth2 (XOAUTH2)."""

    PASSWORD = "password", _("Password")
    MICROSOFT365 = "microsoft365", _("Microsoft 365 (OAuth2)")
    GOOGLE = "google", _("Google (OAuth2)")


class Scope(models.TextChoices):
    """Whose configuration a user's messages go through: the global one or their own."""

    GLOBAL = "global", _("Common for all users — all messages are sent from one address")
    INDIVIDUAL = "individual", _(
        "Only for this user — stored for this user, no effect on others"
    )
