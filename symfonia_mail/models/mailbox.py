"""The mailbox side's reading position: which reports of a folder were read."""

from django.db import models
from django.utils.translation import gettext_lazy as _


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
