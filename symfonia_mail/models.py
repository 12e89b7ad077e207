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
)

TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,254}")

class Transport(models.TextChoices):
    """How a message leaves: this app speaks SMTP, or the host's own mail route."""

    SMTP = "smtp", _("SMTP (this application talks to the mail server)")
    SYSTEM = "system", _("System (the site's default mail route)")


class Security(models.TextChoices):
    """How the SMTP connection is encrypted."""

    NONE = "none", _("None (plain text)")
    STARTTLS = "starttls", _("STARTTLS (usually port 587)")
    SSL = "ssl", _("SSL/TLS from the start (usually port 465)")


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
        _("transport"), max_length=10, choices=Transport.choices, default=Transport.SMTP
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
        ca_problem = certificates.problem(self.ca_certificates)
        if ca_problem:
            errors["ca_certificates"] = ca_problem
        problem = attachment_password_problem(self.attachment_password)
        if problem:
            errors["attachment_password"] = problem
        if errors:
            raise ValidationError(errors)


def oauth_problems(settings_obj):
    """Return {field: message} for what an OAuth2 sign-in still needs."""
    errors = {}
    if settings_obj.transport != Transport.SMTP:
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

    key = models.SlugField(_("key"), max_length=64)
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
    error = models.TextField(_("error"), blank=True)
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
    transport = models.CharField(_("transport"), max_length=10, choices=Transport.choices)
    server = models.CharField(_("server"), max_length=300, blank=True)
    sender = models.CharField(_("envelope sender"), max_length=998, blank=True)
    recipients = models.TextField(_("envelope recipients"), blank=True)
    refused_recipients = models.TextField(_("refused recipients"), blank=True)
    subject = models.TextField(_("subject"), blank=True)
    message_id = models.CharField(_("Message-ID"), max_length=998, blank=True, db_index=True)
    dsn_requested = models.CharField(_("DSN requested"), max_length=64, blank=True)
    envelope_id = models.CharField(_("DSN envelope id"), max_length=100, blank=True)
    note = models.TextField(_("note"), blank=True)

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
        return f"{self.get_status_display()}: {self.subject[:60]}"


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
    (``symfonia_mail.reminder_claims``). A forced resend takes the next
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
    failed = models.PositiveIntegerField(_("failed"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    # {"chunk index": {"sent": n, "failed": n, "skipped": n}}: each chunk counted once.
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
        return max(self.total - self.sent - self.failed - self.skipped, 0)

    @property
    def chunks(self):
        """How many chunks (tasks) the run's contractors are split into."""
        return math.ceil(self.total / self.chunk_size)
