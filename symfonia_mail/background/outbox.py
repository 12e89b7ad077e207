"""The outbox: prepared messages stored for background sending (enqueue side).

With ``SYMFONIA_MAIL["BACKGROUND"] = True`` the backend prepares each message
as it would to send it (configuration, macros, protected attachments, sender,
copies), and instead of talking SMTP hands the envelope and bytes to
:class:`Buffer`. At the end of ``send_messages`` the buffer writes the MailLog
rows (status ``queued``) and the outbox rows in two bulk inserts and asks the
Tasks framework to send them once the caller's transaction commits: nothing
is sent after a rollback.
"""

from django.db import router, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from ..models import MailLog, OutboxMessage
from .delivery import enqueue_ids


class Buffer:
    """Messages of one ``send_messages`` call waiting to be written to the outbox."""

    def __init__(self):
        self.items = []  # (LogEntry, OutboxMessage without its log)

    def add(self, row, config, from_addr, recipients, data):
        """Queue the prepared message of log entry *row* for *config*; return 1."""
        row.status = MailLog.Status.QUEUED
        row.attempts = 0
        self.items.append((row, OutboxMessage(
            config_key=config.key, sender=from_addr, recipients=list(recipients),
            dsn_notify=",".join(config.dsn_notify), data=data,
        )))
        return 1

    def flush(self):
        """Write the queued messages and enqueue their sending on commit; return the ids."""
        if not self.items:
            return []
        items, self.items = self.items, []
        now = timezone.now()
        alias = router.db_for_write(MailLog)
        logs = [entry for entry, _outbox in items]  # unsaved MailLog rows (maillog.LogEntry)
        for log in logs:
            log.created_at = now
        with transaction.atomic(using=alias):
            # The entries themselves get their ids: message.symfonia_status reads them.
            MailLog.objects.using(alias).bulk_create(logs)
            outboxes = []
            for log, (_entry, outbox) in zip(logs, items, strict=True):
                outbox.log, outbox.queued_at = log, now
                outboxes.append(outbox)
            OutboxMessage.objects.using(alias).bulk_create(outboxes)
        ids = [log.pk for log in logs]
        transaction.on_commit(lambda: enqueue_ids(ids), using=alias)
        return ids


RESENDABLE = (MailLog.Status.FAILED, MailLog.Status.UNKNOWN)
CANCELLABLE = (MailLog.Status.QUEUED, MailLog.Status.RETRY)


def resendable(logs):
    """Return the rows of *logs* (a MailLog queryset) that can be sent again."""
    return logs.filter(status__in=RESENDABLE, outbox__data__isnull=False)


def resend(logs):
    """Queue the stored messages of failed/unknown rows in *logs* again; return their ids."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(resendable(logs).select_for_update().values_list("pk", flat=True))
        # The status condition again: a row that changed meanwhile is left alone.
        MailLog.objects.filter(pk__in=ids, status__in=RESENDABLE).update(
            status=MailLog.Status.QUEUED, next_attempt_at=None,
            note="Queued again from the mail log.",
        )
        OutboxMessage.objects.filter(pk__in=ids).update(
            queued_at=now, claimed_at=None, claimed_by="")
    transaction.on_commit(lambda: enqueue_ids(ids))
    return ids


CANCELLED = gettext_noop("Cancelled from the mail log before it was sent.")


def cancel(logs):
    """Cancel the queued or waiting rows of *logs*; return how many were cancelled.

    A conditional UPDATE: a row a worker has claimed meanwhile is ``sending``
    and is not cancelled (its task finds it cancelled otherwise and sends nothing).
    """
    return logs.filter(status__in=CANCELLABLE).update(
        status=MailLog.Status.CANCELLED, next_attempt_at=None, error=CANCELLED,
        problem={"msgid": CANCELLED},
    )
