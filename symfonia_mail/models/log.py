"""What happened to each message: the MailLog row and its recipients' delivery events."""

from django.conf import settings
from django.db import models, router
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..pending_log import pending
from .choices import Scope, Transport


class WrittenRowsManager(models.Manager):
    """Its querysets first wait for the rows this process handed to the log writer.

    A send outside a transaction returns before its row is written
    (tracking/log_writer.py); reading the log right after it still finds the row.
    """

    def get_queryset(self):
        if pending.waiting():
            pending.wait_to_read(alias=router.db_for_read(self.model))
        return super().get_queryset()


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
        UNKNOWN = "unknown", _("unknown (sent, not confirmed: connection or worker lost)")
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

    objects = WrittenRowsManager()

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

    objects = WrittenRowsManager()

    class Meta:
        verbose_name = _("delivery event")
        verbose_name_plural = _("delivery events")
        ordering = ["reported_at", "id"]
        indexes = [models.Index(fields=["maillog", "reported_at"], name="delivery_event_log")]

    def __str__(self):
        return f"{self.recipient}: {self.get_action_display()}"
