"""Delete stored outbox messages (and with --logs, MailLog rows) of finished mail."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from symfonia_mail.background import delivery
from symfonia_mail.models import MailLog, OutboxMessage
from symfonia_mail.reminders import runs as reminder_runs

# Never a message still on its way: queued, sending or waiting to retry.
FINISHED = (MailLog.Status.SENT, MailLog.Status.PARTIAL, MailLog.Status.FAILED,
            MailLog.Status.UNKNOWN, MailLog.Status.CANCELLED)


class Command(BaseCommand):
    help = _(
        "Delete the stored messages of finished mail older than --days N (MailLog rows "
        "stay unless --logs). --sweep marks messages whose worker died as unknown and "
        "queues lost ones and the unfinished chunks of stalled reminder runs again (safe to "
        "run every minute)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help=_("Age in days of what is deleted."))
        parser.add_argument("--logs", action="store_true",
                            help=_("Also delete the finished MailLog rows older than --days."))
        parser.add_argument("--sweep", action="store_true",
                            help=_("Find stale 'sending' and lost 'queued' messages, and stalled "
                                   "reminder runs."))

    def handle(self, *args, days=None, logs=False, sweep=False, **options):
        if days is None and not sweep:
            raise CommandError(_("Give --days N, --sweep, or both."))
        if days is not None and days < 0:
            raise CommandError(_("--days cannot be negative."))
        if sweep:
            unknown, requeued = delivery.sweep()
            self.stdout.write(_("Marked %(unknown)d message(s) unknown; queued %(requeued)d "
                                "again.") % {"unknown": unknown, "requeued": requeued})
            chunks = reminder_runs.requeue_stalled()
            self.stdout.write(_("Queued %(chunks)d unfinished chunk(s) of stalled reminder "
                                "runs again.") % {"chunks": chunks})
        if days is None:
            return
        cutoff = timezone.now() - timedelta(days=days)
        finished = {"status__in": FINISHED, "created_at__lt": cutoff}
        stored, _by_model = OutboxMessage.objects.filter(
            **{f"log__{name}": value for name, value in finished.items()}).delete()
        self.stdout.write(_("Deleted %(count)d stored message(s).") % {"count": stored})
        if logs:
            _total, by_model = MailLog.objects.filter(**finished).delete()
            rows = by_model.get(MailLog._meta.label, 0)
            self.stdout.write(_("Deleted %(count)d mail log row(s).") % {"count": rows})
