"""Mail configuration models: declarative only (no SMTP, PDF or ZIP work here)."""

import math
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import certificates
from .fields import SecretField
from .validators import (
    attachment_password_problem,
    validate_address_list,
    validate_body_size,
    validate_dsn_notify,
    validate_no_control_chars,
    validate_template_key,
)

TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,254}")

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


class MessageTemplate(models.Model):
    """A subject and body for a key (e.g. invoice), global or a user's own."""

    key = models.SlugField(_("key"), max_length=64, validators=[validate_template_key])
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="mail_templates",
        help_text=_("Empty: the template is common to all users."),
    )
    subject = models.CharField(
        _("subject"), max_length=998, validators=[validate_no_control_chars]
    )
    body = models.TextField(_("body"), validators=[validate_body_size])
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["key", "owner_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "key"], name="symfonia_mail_template_owner_key"
            ),
            models.UniqueConstraint(
                fields=["key"], condition=models.Q(owner__isnull=True),
                name="symfonia_mail_template_global_key",
            ),
        ]

    def __str__(self):
        # Not an f-string: makemessages cannot see a gettext call inside one.
        owner = self.owner if self.owner_id else _("global")
        return "%s (%s)" % (self.key, owner)  # noqa: UP031


class MailLog(models.Model):
    """One row per message handed to the backend: what happened to it."""

    class Status(models.TextChoices):
        """queued → sending → sent | partial | retry | failed | unknown; or cancelled."""

        SENT = "sent", _("sent")
        PARTIAL = "partial", _("sent, some recipients refused")
        FAILED = "failed", _("failed")
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        RETRY = "retry", _("waiting to retry")
        UNKNOWN = "unknown", _("unknown (the worker stopped while sending)")
        CANCELLED = "cancelled", _("cancelled")

    class Kind(models.TextChoices):
        """What the row records: a message handed to the backend, or a Test SMTP run."""

        MESSAGE = "message", _("message")
        TEST = "test", _("Test SMTP")

    class Delivery(models.TextChoices):
        """What delivery reports said, summed up over the recipients (DESIGN.md §11)."""

        UNKNOWN = "", _("no report yet")
        DELIVERED = "delivered", _("delivered")
        DELAYED = "delayed", _("delayed, still trying")
        BOUNCED = "bounced", _("bounced")
        PARTLY_BOUNCED = "partly_bounced", _("bounced for some recipients")

    # Set when the outcome is known, not at the (later) bulk insert: not auto_now_add.
    created_at = models.DateTimeField(
        _("time"), default=timezone.now, editable=False, db_index=True
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, db_index=True)
    kind = models.CharField(
        _("kind"), max_length=10, choices=Kind.choices, default=Kind.MESSAGE, db_index=True
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=1)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)  # English: for log files and grep
    # The error as a code and parameters (problems.problem_record), or a Test SMTP report
    # ({"test": …}): pages show it in the reader's language. Empty: show `error`.
    problem = models.JSONField(_("problem"), default=dict, blank=True, editable=False)
    scope = models.CharField(_("configuration used"), max_length=10, choices=Scope.choices)
    config_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("configuration of user"), null=True,
        blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text=_("Whose individual configuration was used; empty for the global one."),
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("sent by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    transport = models.CharField(_("transport"), max_length=20, choices=Transport.choices)
    server = models.CharField(_("server"), max_length=300, blank=True)
    sender = models.CharField(_("envelope sender"), max_length=998, blank=True)
    recipients = models.TextField(_("envelope recipients"), blank=True)
    refused_recipients = models.TextField(_("refused recipients"), blank=True)
    subject = models.TextField(_("subject"), blank=True)
    message_id = models.CharField(_("Message-ID"), max_length=998, blank=True, db_index=True)
    dsn_requested = models.CharField(_("DSN requested"), max_length=64, blank=True)
    # Indexed: delivery reports are matched to their message by it.
    envelope_id = models.CharField(_("DSN envelope id"), max_length=100, blank=True,
                                   db_index=True)
    note = models.TextField(_("note"), blank=True)
    delivery = models.CharField(
        _("delivery"), max_length=16, choices=Delivery.choices, blank=True, default="",
        db_index=True,
        help_text=_("What the recipients' servers reported: the latest report per recipient."),
    )

    class Meta:
        verbose_name = _("mail log entry")
        verbose_name_plural = _("mail log")
        ordering = ["-created_at", "-id"]
        # The admin list filters by status or sender and sorts by time: one
        # index each serves filter and order (100,000 rows: bench/bench_admin.py).
        indexes = [
            models.Index(fields=["status", "created_at"], name="maillog_status_time"),
            models.Index(fields=["sent_by", "created_at"], name="maillog_sender_time"),
        ]

    def __str__(self):
        if self.kind == self.Kind.TEST:
            # Its subject is Test SMTP's headline in English; pages show it translated.
            return f"{self.get_status_display()}: {self.get_kind_display()} {self.server}"
        return f"{self.get_status_display()}: {self.subject[:60]}"


class DeliveryEvent(models.Model):
    """What a delivery report, or the server at send time, said about one recipient."""

    class Action(models.TextChoices):
        """RFC 3464 actions, and an ARF complaint."""

        DELIVERED = "delivered", _("delivered")
        RELAYED = "relayed", _("relayed further (no more reports)")
        EXPANDED = "expanded", _("delivered to a list or alias")
        DELAYED = "delayed", _("delayed, still trying")
        FAILED = "failed", _("not delivered")
        COMPLAINED = "complained", _("marked as spam by the recipient")

    class Source(models.TextChoices):
        """Where the event comes from."""

        REPORT = "report", _("delivery report")
        SMTP = "smtp", _("refused at send time")

    maillog = models.ForeignKey(MailLog, verbose_name=_("message"), on_delete=models.CASCADE,
                                related_name="delivery_events")
    recipient = models.CharField(_("recipient"), max_length=320)
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    status = models.CharField(_("status code"), max_length=16, blank=True)
    diagnostic = models.TextField(_("server's reply"), blank=True)
    remote_mta = models.CharField(_("reporting server"), max_length=255, blank=True)
    source = models.CharField(_("source"), max_length=6, choices=Source.choices,
                              default=Source.REPORT)
    reported_at = models.DateTimeField(_("reported at"), default=timezone.now)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now, editable=False)
    # The same report read twice (or by two workers at once) names the same event:
    # a unique digest of what identifies it keeps it once (symfonia_mail.reports.record).
    digest = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        verbose_name = _("delivery event")
        verbose_name_plural = _("delivery events")
        ordering = ["reported_at", "id"]
        indexes = [models.Index(fields=["maillog", "reported_at"], name="delivery_event_log")]

    def __str__(self):
        return f"{self.recipient}: {self.get_action_display()}"


class ReportCursor(models.Model):
    """How far delivery reports were read in one folder of one configuration's mailbox.

    IMAP numbers messages with UIDs that only grow while the folder's
    UIDVALIDITY stays the same; a new UIDVALIDITY means the numbers start over.
    """

    config_key = models.CharField(
        _("configuration"), max_length=40,
        help_text=_("global, or user:<id> for an individual configuration."),
    )
    server = models.CharField(_("IMAP server"), max_length=300)
    folder = models.CharField(_("folder"), max_length=255)
    uidvalidity = models.BigIntegerField(_("UIDVALIDITY"), default=0)
    last_uid = models.BigIntegerField(_("last UID read"), default=0)
    reports = models.PositiveIntegerField(_("reports read"), default=0)
    unmatched = models.PositiveIntegerField(_("reports about no message of ours"), default=0)
    checked_at = models.DateTimeField(_("last checked"), null=True, blank=True)
    error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("delivery report cursor")
        verbose_name_plural = _("delivery report cursors")
        constraints = [
            models.UniqueConstraint(fields=["config_key", "server", "folder"],
                                    name="symfonia_mail_report_cursor"),
        ]

    def __str__(self):
        return f"{self.config_key} {self.server} {self.folder} {self.uidvalidity}:{self.last_uid}"


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


class ReminderRecord(models.Model):
    """One payment reminder sent (or being sent): to whom, for which documents, on which day.

    A run inserts the row *before* sending (status ``claimed``): the unique
    constraint on contractor, day, documents and ``resend`` lets exactly one
    run win, in any number of processes, on SQLite and PostgreSQL alike
    (``symfonia_mail.reminders.claims``). A forced resend takes the next
    ``resend`` number, so it gets a row of its own.
    """

    class Status(models.TextChoices):
        """Claimed before sending; sent or partial after (a failed send gives the claim up)."""

        CLAIMED = "claimed", _("being sent")
        SENT = "sent", _("sent")
        PARTIAL = "partial", _("partial")

    contractor_key = models.CharField(
        _("contractor"), max_length=255,
        help_text=_("The caller's identifier of the contractor, e.g. sales.contractor:12."),
    )
    contractor_name = models.CharField(_("contractor name"), max_length=255, blank=True)
    documents = models.TextField(_("documents"), help_text=_("Document numbers, one per line."))
    documents_digest = models.CharField(_("documents digest"), max_length=64, editable=False)
    sent_on = models.DateField(_("sent on"))
    sent_at = models.DateTimeField(_("sent at"), auto_now_add=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("sent by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    recipients = models.TextField(_("recipients"), blank=True)
    message_id = models.CharField(_("Message-ID"), max_length=998, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.SENT,
    )
    resend = models.PositiveSmallIntegerField(
        _("resend"), default=0,
        help_text=_("0 for the day's reminder; 1, 2, … for reminders sent again by force."),
    )
    refused = models.TextField(
        _("refused recipients"), blank=True,
        help_text=_("Addresses the server refused, with its replies."),
    )

    class Meta:
        verbose_name = _("payment reminder sent")
        verbose_name_plural = _("payment reminders sent")
        ordering = ["-sent_at", "-id"]
        constraints = [
            # The claim: one row per reminder and day wins, whichever process inserts first.
            models.UniqueConstraint(
                fields=["contractor_key", "sent_on", "documents_digest", "resend"],
                name="symfonia_mail_reminder_once",
            ),
        ]

    def __str__(self):
        return f"{self.contractor_name or self.contractor_key} {self.sent_on}"


class OutboxMessage(models.Model):
    """A prepared message waiting for (or done with) background sending.

    It holds what goes on the wire, built at enqueue time: macros filled,
    attachments already protected (never a plain attachment), the envelope and
    the DSN options. Its status lives in the MailLog row it shares its key with.
    """

    log = models.OneToOneField(
        MailLog, verbose_name=_("mail log entry"), primary_key=True,
        on_delete=models.CASCADE, related_name="outbox",
    )
    config_key = models.CharField(
        _("configuration"), max_length=40,
        help_text=_("global, or user:<id> for an individual configuration."),
    )
    sender = models.CharField(_("envelope sender"), max_length=998)
    recipients = models.JSONField(_("envelope recipients"), default=list)
    dsn_notify = models.CharField(_("delivery notifications"), max_length=64, blank=True)
    data = models.BinaryField(_("message"), null=True, editable=False)
    queued_at = models.DateTimeField(_("queued at"), db_index=True)
    claimed_at = models.DateTimeField(_("sending since"), null=True, blank=True)
    claimed_by = models.CharField(_("worker"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox")

    def __str__(self):
        return f"outbox #{self.pk}"


class SendRateWindow(models.Model):
    """Messages sent through one configuration in one second (the rate limit's counter)."""

    config_key = models.CharField(max_length=40)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("send rate window")
        constraints = [
            models.UniqueConstraint(
                fields=["config_key", "window_start"], name="symfonia_mail_rate_window"
            ),
        ]

    def __str__(self):
        return f"{self.config_key} {self.window_start:%H:%M:%S} {self.count}"


class SmtpConnectionLease(models.Model):
    """One of a configuration's connection slots, held by one open SMTP session."""

    config_key = models.CharField(max_length=40)
    slot = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=255)  # host:pid:thread of the session's owner
    # A holder that dies never releases: its slot is free again from here on.
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("SMTP connection lease")
        constraints = [
            models.UniqueConstraint(fields=["config_key", "slot"],
                                    name="symfonia_mail_connection_slot"),
        ]

    def __str__(self):
        return f"{self.config_key} #{self.slot} {self.holder}"


class ReminderRun(models.Model):
    """A payment reminder run sent in the background: its progress and result."""

    class Status(models.TextChoices):
        """queued → running → done; the failures of its messages are counted in failed."""

        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    created_at = models.DateTimeField(_("started"), auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("sent by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    source = models.CharField(
        _("source"), max_length=255,
        help_text=_("Dotted path of the function that turns contractor keys into reminders."),
    )
    keys = models.JSONField(_("contractors"), default=list)
    options = models.JSONField(_("options"), default=dict)
    chunk_size = models.PositiveIntegerField(_("chunk size"), default=50)
    total = models.PositiveIntegerField(_("contractors"), default=0)
    sent = models.PositiveIntegerField(_("sent"), default=0)
    # Sent, but the server refused some of the contractor's addresses (ReminderRecord too).
    partial = models.PositiveIntegerField(_("partial"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    # {"chunk index": {"sent": n, "partial": n, "failed": n, "skipped": n}}: counted once.
    chunk_counts = models.JSONField(_("counts per chunk"), default=dict, blank=True)
    progress_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("payment reminder run")
        verbose_name_plural = _("payment reminder runs")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.get_status_display()} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def remaining(self):
        return max(self.total - self.sent - self.partial - self.failed - self.skipped, 0)

    @property
    def chunks(self):
        """How many chunks (tasks) the run's contractors are split into."""
        return math.ceil(self.total / self.chunk_size)
