"""Writing MailLog rows: one bulk insert, else row by row, and every lost row named.

Used by the sender's own flush (maillog.LogBuffer) and by the log writer's
thread (log_writer); a row that cannot be written leaves one ERROR line naming
its message, its recipients, its outcome and the database's reason.
"""

import logging

from django.db import DatabaseError, router, transaction
from django.utils import translation

from ..models import MailLog
from ..problems import explain, is_delivery_problem

logger = logging.getLogger("symfonia_mail")


def describe_error(exc):
    """Return the reason for *exc* in English: a server's reply with a hint, else class and message.

    English whoever sends: it is for log lines and grep; pages render
    MailLog.problem (problem_record) in the reader's language instead.
    """
    with translation.override("en"):
        if is_delivery_problem(exc):
            return explain(exc)
        return f"{type(exc).__name__}: {str(exc) or repr(exc)}"


def which(entry):
    """Name *entry*'s message in a log line: its Message-ID, else its subject."""
    if entry.message_id:
        return entry.message_id
    subject = entry.subject if len(entry.subject) <= 100 else entry.subject[:99] + "…"
    return f"“{subject}” (no Message-ID)" if subject else "(no Message-ID, no subject)"


def write(entries):
    """Insert *entries*; return how many were written.

    One bulk insert first; if it fails, each row alone, so that one bad row
    or a passing lock loses as little as possible. Every row that still
    fails is named in its own log line: nothing disappears as "a batch".
    """
    alias = router.db_for_write(MailLog)
    try:
        insert(entries, alias)
        return len(entries)
    except DatabaseError as exc:
        if len(entries) == 1:
            report_lost(entries[0], exc)
            return 0
        logger.warning("Bulk insert of %d MailLog row(s) failed (%s); writing them one by one",
                       len(entries), describe_error(exc))
    written = 0
    for entry in entries:
        try:
            insert([entry], alias)
            written += 1
        except DatabaseError as exc:
            report_lost(entry, exc)
    return written


def insert(entries, alias):
    if len(entries) == 1 and transaction.get_autocommit(using=alias):
        # A single send outside any transaction: one INSERT that commits by itself
        # (no BEGIN/COMMIT statements around it).
        entries[0].save(force_insert=True, using=alias)
        return
    # Inside the caller's transaction this is a savepoint: a failed insert
    # then leaves the caller's transaction usable (PostgreSQL would abort it).
    with transaction.atomic(using=alias):
        MailLog.objects.using(alias).bulk_create(entries)


def report_lost(entry, exc):
    """Name *entry*, which could not be written, in an ERROR line: nothing is lost silently."""
    logger.error(
        "MailLog row not written: message %s to %s, status %s, reason %s; database error: %s",
        entry.message_id or "(no Message-ID)", entry.recipients or "(no recipients)",
        entry.status, entry.error or entry.note or "-", describe_error(exc),
    )
