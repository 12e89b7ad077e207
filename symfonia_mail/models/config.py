"""The mail configuration: the settings both scopes share, the global one and the users'."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import ProtectedError
from django.utils.translation import gettext_lazy as _

from .. import certificates
from ..fields import SecretField
from ..validators import (
    attachment_password_problem,
    validate_address_list,
    validate_dsn_notify,
    validate_no_control_chars,
)
from .choices import API_SIGN_IN, AuthMethod, Scope, Security, SentCopy, Transport

TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,254}")


class MailSettings(models.Model):
    """The settings of Symfonia's "Mail configuration" window, shared by both scopes."""

    transport = models.CharField(
        _("transport"), max_length=20, choices=Transport.choices, default=Transport.SMTP
    )
    host = models.CharField(
        _("SMTP server"), max_length=255, blank=True,
        validators=[validate_no_control_chars],
        help_text=_("Name or IP address of the outgoing mail server, e.g. smtp.example.com."),
    )
    port = models.PositiveIntegerField(
        _("port"), default=587, validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text=_("587 for STARTTLS, 465 for SSL/TLS, 25 for unencrypted."),
    )
    security = models.CharField(
        _("connection security"), max_length=10, choices=Security.choices,
        default=Security.STARTTLS,
    )
    verify_certificate = models.BooleanField(
        _("verify the server certificate"), default=True,
        help_text=_(
            "Leave on. Turn off only for an internal server with a self-signed "
            "certificate: the connection is then encrypted but not authenticated."
        ),
    )
    timeout_ms = models.PositiveIntegerField(
        _("server response timeout (ms)"), default=30_000, validators=[MinValueValidator(1)],
        help_text=_("How long to wait for each reply of the server, in milliseconds."),
    )
    ca_certificates = models.TextField(
        _("trusted CA certificates (PEM)"), blank=True,
        help_text=_(
            "For a server whose certificate is signed by your company's own certificate "
            "authority: paste that authority's certificate(s) in PEM format. They are "
            "trusted instead of the system store for this configuration only."
        ),
    )
    auth_method = models.CharField(
        _("sign-in method"), max_length=20, choices=AuthMethod.choices,
        default=AuthMethod.PASSWORD,
    )
    username = models.CharField(
        _("user name"), max_length=255, blank=True, validators=[validate_no_control_chars]
    )
    password = SecretField(_("password"), max_length=255, blank=True)
    password_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("password entered by"),
        null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+",
    )
    oauth_tenant = models.CharField(
        _("Microsoft directory (tenant)"), max_length=255, blank=True,
        validators=[validate_no_control_chars],
        help_text=_("Directory (tenant) ID or domain, e.g. firma.onmicrosoft.com."),
    )
    oauth_client_id = models.CharField(
        _("OAuth2 client ID"), max_length=255, blank=True,
        validators=[validate_no_control_chars],
    )
    oauth_client_secret = SecretField(_("OAuth2 client secret"), max_length=1024, blank=True)
    oauth_client_secret_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("client secret entered by"),
        null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+",
    )
    oauth_refresh_token = SecretField(
        _("OAuth2 refresh token"), max_length=8192, blank=True, editable=False
    )
    oauth_account = models.CharField(
        _("connected account"), max_length=255, blank=True, editable=False,
        help_text=_("The account that signed in with “Connect” (from the provider's answer)."),
    )
    oauth_problem = models.TextField(
        _("OAuth2 sign-in problem"), blank=True, editable=False,
        help_text=_("Why the last token request failed; empty after the next success."),
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        _("messages per minute"), null=True, blank=True,
        help_text=_(
            "At most this many messages a minute through this configuration, for all "
            "workers together (Microsoft 365 allows 30). Empty: no limit."
        ),
    )
    max_connections = models.PositiveSmallIntegerField(
        _("connections at once"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_(
            "At most this many SMTP sessions of this configuration open at once, for all "
            "processes and workers together. Empty: automatic — 3 for Microsoft 365 "
            "(smtp.office365.com allows 3 concurrent connections per mailbox and refuses "
            "a 4th with “4.3.2 sender thread limit exceeded”), no limit for other servers."
        ),
    )
    sender_email = models.EmailField(
        _("sender address"), blank=True, validators=[validate_no_control_chars],
        help_text=_("The From address. The test message is sent here."),
    )
    sender_name = models.CharField(
        _("sender name"), max_length=255, blank=True, validators=[validate_no_control_chars]
    )
    cc = models.TextField(
        _("CC (copy to)"), blank=True, validators=[validate_address_list],
        help_text=_("Addresses added as copies to every message, separated by commas."),
    )
    bcc = models.TextField(
        _("BCC (blind copy to)"), blank=True, validators=[validate_address_list],
        help_text=_("Addresses that receive a hidden copy of every message, separated by commas."),
    )
    dsn_notify = models.CharField(
        _("delivery notifications"), max_length=64, blank=True, default="",
        validators=[validate_dsn_notify],
        help_text=_(
            "Ask the server for delivery status notifications: any of OnSuccess, "
            "OnFailure, Delay; or Never; empty or None asks for nothing."
        ),
    )
    attachment_password = SecretField(
        _("attachment password"), max_length=255, blank=True,
        help_text=_(
            "When set, PDF attachments are encrypted with this password (AES-256) and "
            "other files are packed into a password-protected ZIP. AES ZIP files need "
            "7-Zip or a similar program; Windows Explorer and macOS Archive Utility "
            "cannot open them (the site can switch to the weak ZipCrypto that they do "
            "open). At most 99 bytes, the longest password 7-Zip accepts."
        ),
    )
    attachment_password_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("attachment password entered by"),
        null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+",
    )
    imap_host = models.CharField(
        _("IMAP server"), max_length=255, blank=True, validators=[validate_no_control_chars],
        help_text=_("The mailbox's incoming server, e.g. imap.example.com: delivery reports "
                    "are read there and sent messages filed. Empty: no mailbox side."),
    )
    imap_port = models.PositiveIntegerField(
        _("IMAP port"), default=993, validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text=_("993 for SSL/TLS, 143 for STARTTLS."),
    )
    imap_security = models.CharField(
        _("IMAP connection security"), max_length=10, choices=Security.choices,
        default=Security.SSL,
    )
    imap_username = models.CharField(
        _("IMAP user name"), max_length=255, blank=True, validators=[validate_no_control_chars],
        help_text=_("Empty: the SMTP user name. An OAuth2 sign-in uses its own account."),
    )
    imap_password = SecretField(
        _("IMAP password"), max_length=255, blank=True,
        help_text=_("Empty: the SMTP password."),
    )
    imap_password_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("IMAP password entered by"),
        null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+",
    )
    reports_folder = models.CharField(
        _("delivery reports folder"), max_length=255, default="INBOX",
        validators=[validate_no_control_chars],
        help_text=_("The folder where delivery reports and bounces arrive (usually INBOX)."),
    )
    sent_copy = models.CharField(
        _("copy to the Sent folder"), max_length=10, choices=SentCopy.choices,
        default=SentCopy.AUTO,
        help_text=_("File each sent message in the mailbox's Sent folder, so it shows in "
                    "Outlook or Thunderbird as if sent from there."),
    )
    sent_folder = models.CharField(
        _("Sent folder"), max_length=255, blank=True, validators=[validate_no_control_chars],
        help_text=_("Empty: the folder the server marks as Sent (else Sent, Sent Items, "
                    "Wysłane…)."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True

    def clean(self):
        super().clean()
        errors = {}
        if self.transport == Transport.SMTP:
            if not self.host:
                errors["host"] = _("Enter the SMTP server to send mail through SMTP.")
            if not self.sender_email:
                errors["sender_email"] = _("Enter the sender address to send mail through SMTP.")
        elif self.transport in API_SIGN_IN and not self.sender_email:
            # No server to fill in; the sender is the mailbox (or an address it may send as).
            errors["sender_email"] = _(
                "Enter the sender address: the mailbox, or an address it may send as.")
        errors.update(api_sign_in_problems(self))
        if self.auth_method != AuthMethod.PASSWORD:
            errors.update(oauth_problems(self))
        elif self.password and not self.username:
            errors["username"] = _("Enter the user name that goes with the password.")
        if (self.transport == Transport.SMTP and self.auth_method == AuthMethod.PASSWORD
                and self.username and not self.password):
            # Django's backend would silently skip the login and send unauthenticated.
            errors["password"] = _(
                "Enter the password that goes with the user name, or clear the user name "
                "to send without logging in."
            )
        if self.imap_password and not (self.imap_username or self.username):
            errors["imap_username"] = _("Enter the IMAP user name that goes with the password.")
        ca_problem = certificates.problem(self.ca_certificates)
        if ca_problem:
            errors["ca_certificates"] = ca_problem
        problem = attachment_password_problem(self.attachment_password)
        if problem:
            errors["attachment_password"] = problem
        if errors:
            raise ValidationError(errors)


def api_sign_in_problems(settings_obj):
    """Return {field: message} when an API transport lacks its provider's sign-in."""
    needed = API_SIGN_IN.get(settings_obj.transport)
    if needed is None or settings_obj.auth_method == needed:
        return {}
    if needed == AuthMethod.MICROSOFT365:
        return {"auth_method": _(
            "Microsoft Graph sends with a Microsoft 365 sign-in: choose “Microsoft 365 "
            "(OAuth2)” as the sign-in method, or another transport.")}
    return {"auth_method": _(
        "The Gmail API sends with a Google sign-in: choose “Google (OAuth2)” as the sign-in "
        "method, or another transport.")}


def oauth_problems(settings_obj):
    """Return {field: message} for what an OAuth2 sign-in still needs."""
    errors = {}
    if settings_obj.transport == Transport.SYSTEM:
        return errors
    if not settings_obj.username:
        errors["username"] = _("Enter the mailbox address to sign in as (the user name).")
    if not settings_obj.oauth_client_id:
        errors["oauth_client_id"] = _(
            "Enter the client ID of the application registered for this mailbox.")
    microsoft = settings_obj.auth_method == AuthMethod.MICROSOFT365
    if microsoft and not settings_obj.oauth_tenant:
        errors["oauth_tenant"] = _("Enter the Microsoft directory (tenant) ID or domain.")
    elif microsoft and not TENANT_RE.fullmatch(settings_obj.oauth_tenant):
        # It becomes part of the token endpoint's URL: no slashes, no other host.
        errors["oauth_tenant"] = _(
            "Enter the directory (tenant) ID (a GUID) or a domain such as "
            "firma.onmicrosoft.com: letters, digits, dots and hyphens only.")
    if not microsoft and not settings_obj.oauth_client_secret:
        errors["oauth_client_secret"] = _("Enter the client secret of the application.")
    return errors


class GlobalMailConfig(MailSettings):
    """The configuration common to all users (a singleton, pk=1)."""

    SINGLETON_PK = 1

    company_name = models.CharField(
        _("company name"), max_length=255, blank=True, validators=[validate_no_control_chars],
        help_text=_("Filled in for the {firma} macro."),
    )

    class Meta:
        verbose_name = _("global mail configuration")
        verbose_name_plural = _("global mail configuration")

    def __str__(self):
        return str(_("Global mail configuration"))

    def save(self, *args, **kwargs):
        self.pk = self.SINGLETON_PK
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        """Refuse: the app always needs the global configuration (edit it instead)."""
        raise ProtectedError(
            "The global mail configuration cannot be deleted; edit its fields instead.",
            {self},
        )

    @classmethod
    def get_solo(cls):
        """Return the one global configuration, creating it with defaults if needed."""
        obj, _created = cls.objects.get_or_create(pk=cls.SINGLETON_PK)
        return obj


class UserMailConfig(MailSettings):
    """One user's mail configuration; scope says whether it is used."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("user"),
        on_delete=models.CASCADE, related_name="mail_config",
    )
    scope = models.CharField(
        _("scope"), max_length=10, choices=Scope.choices, default=Scope.INDIVIDUAL
    )

    class Meta:
        verbose_name = _("user mail configuration")
        verbose_name_plural = _("user mail configurations")

    def __str__(self):
        return str(_("Mail configuration of %(user)s") % {"user": self.user})

    def clean(self):
        # A user following the global scope keeps incomplete individual values stored.
        if self.scope == Scope.INDIVIDUAL:
            super().clean()


class ConfigRevision(models.Model):
    """A token that changes on every configuration or template change.

    Each process caches resolved configurations and compares this token once
    per connection, so a save in one process is seen by the next connection
    everywhere, without a restart. A random token (not a counter) stays unique
    even when a transaction that changed it is rolled back.
    """

    token = models.CharField(max_length=32)

    class Meta:
        verbose_name = _("configuration revision")

    def __str__(self):
        return self.token
