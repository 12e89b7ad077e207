"""Claim a payment reminder before sending it, so that exactly one run sends it.

Two runs at once (cron and an admin click, two web workers, two task workers)
must not both remind the same contractor. Reading the day's records first is
not enough: both runs read "nothing sent yet". So a run *inserts* the
:class:`~symfonia_mail.models.ReminderRecord` first, in its own transaction,
and sends only when the insert succeeded; the unique constraint on
(contractor, day, documents, resend) makes the database pick one winner. This
works the same on SQLite (which has no row locks: the loser waits for the
write lock, then hits the constraint) and on PostgreSQL::

    record = claim("sales.contractor:12", digest, today)
    if isinstance(record, Taken):
        ...  # skipped: record.row says who has it and since when
    else:
        try:
            send(...)
        except Exception:
            release(record)
            raise
        mark_sent(record, ...)

Call these outside a transaction of your own (or commit it first): a claim
inside an open transaction is invisible to the other runs until it commits.
A claim left behind by a run that crashed mid-send keeps the contractor
skipped for that day (reported as "being sent by another run since …");
``force`` sends anyway.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Max

from ..models import ReminderRecord

# Retries only when a row vanished or a number was taken between two statements.
ATTEMPTS = 5


@dataclass(frozen=True)
class Taken:
    """The reminder is already claimed or sent today: *row* is the row that has it."""

    row: ReminderRecord

    @property
    def in_progress(self):
        return self.row.status == ReminderRecord.Status.CLAIMED


def claim(contractor_key, digest, day, *, force=False, **fields):
    """Insert the claim row of a reminder; return it, or Taken when another row has it.

    *fields* are further ReminderRecord values (``contractor_name``,
    ``documents``, ``sent_by_id``, ``recipients``…). With *force* a row always
    results: the day's first one when free, else the next ``resend`` number.
    """
    key = {"contractor_key": contractor_key[:255], "documents_digest": digest, "sent_on": day}
    for _attempt in range(ATTEMPTS):
        row = _insert(key, resend=0, fields=fields)
        if row is not None:
            return row
        if force:
            latest = ReminderRecord.objects.filter(**key).aggregate(n=Max("resend"))["n"]
            row = _insert(key, resend=(latest or 0) + 1, fields=fields)
            if row is not None:
                return row
        else:
            existing = ReminderRecord.objects.filter(**key, resend=0).first()
            if existing is not None:
                return Taken(existing)
        # Released, or another forced resend took the number meanwhile: try again.
    raise IntegrityError(f"Reminder {contractor_key!r} on {day}: no claim after {ATTEMPTS} tries")


def release(row):
    """Give a claim up (the send failed), so a later run may send the reminder."""
    ReminderRecord.objects.filter(pk=row.pk, status=ReminderRecord.Status.CLAIMED).delete()


def mark_sent(row, *, message_id="", recipients="", refused=""):
    """Turn a claim into the record of a sent reminder (``partial`` when some were refused)."""
    row.status = ReminderRecord.Status.PARTIAL if refused else ReminderRecord.Status.SENT
    row.message_id = message_id[:998]
    row.recipients = recipients
    row.refused = refused
    row.save(update_fields=["status", "message_id", "recipients", "refused"])
    return row


def _insert(key, *, resend, fields):
    try:
        # Its own transaction (a savepoint inside the caller's): the constraint
        # error rolls back only this insert.
        with transaction.atomic():
            return ReminderRecord.objects.create(
                **key, resend=resend, status=ReminderRecord.Status.CLAIMED, **fields
            )
    except IntegrityError:
        return None
