"""Payment reminders: each one sent, and the background runs that send them."""

import math

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


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
