"""Background sending: the outbox, the rate limit's counters, SMTP connection slots."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .log import MailLog


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
