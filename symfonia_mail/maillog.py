"""Record what happened to each message: MailLog rows written in bulk, and log lines.

Entries are collected per connection and written with one ``executemany``,
because a commit per message costs as much as building the message, and
even ``bulk_create`` (model instances, batches of 999 parameters on SQLite)
costs 3-5x more per row. An entry is only added once the outcome is known,
so a crash can lose entries of sent mail but never report unsent mail as sent.
"""

import logging
from dataclasses import dataclass, fields

from django.db import DatabaseError, connections, router, transaction
from django.utils import timezone

from . import conf
from .models import MailLog

logger = logging.getLogger("symfonia_mail")


@dataclass(slots=True)
class LogEntry:
    """One future MailLog row (attribute names are the model's column attnames)."""

    scope: str
    config_user_id: int | None
    sent_by_id: int | None
    transport: str
    server: str
    subject: str
    status: str = ""
    kind: str = "message"
    attempts: int = 1
    next_attempt_at: object = None
    error: str = ""
    sender: str = ""
    recipients: str = ""
    refused_recipients: str = ""
    message_id: str = ""
    dsn_requested: str = ""
    envelope_id: str = ""
    note: str = ""
    created_at: object = None


def redact(text, secrets):
    """Return *text* with every non-empty secret replaced by ***."""
    for secret in secrets:
        if secret and len(secret) >= 3 and secret in text:
            text = text.replace(secret, "***")
    return text


def describe_error(exc):
    """Return the reason for *exc*: a server's reply with a hint, else class and message."""
    from .problems import explain, is_delivery_problem

    if is_delivery_problem(exc):
        return explain(exc)
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"


class LogBuffer:
    """Log entries waiting for a bulk insert."""

    def __init__(self):
        self.entries = []

    def add(self, entry, secrets=()):
        """Queue *entry*, write the matching log line, flush when the batch is full."""
        entry.created_at = timezone.now()
        if entry.error:
            entry.error = redact(entry.error, secrets)
        if entry.note:
            entry.note = redact(entry.note, secrets)
        if entry.status == MailLog.Status.SENT:
            logger.info("Sent %s to %s via %s", entry.message_id, entry.recipients, entry.scope)
        else:
            logger.warning("Mail %s %s via %s: %s", entry.message_id or entry.subject[:60],
                           entry.status, entry.scope, entry.error)
        if entry.note:
            logger.info("%s: %s", entry.message_id, entry.note)
        self.entries.append(entry)
        if len(self.entries) >= conf.get("LOG_BATCH_SIZE"):
            self.flush()

    def flush(self):
        """Write the queued entries; a database error is logged, never raised over a send."""
        if not self.entries:
            return
        entries, self.entries = self.entries, []
        try:
            insert(entries)
        except DatabaseError:
            logger.exception("Could not write %d MailLog row(s)", len(entries))


def record_test_run(report, config, user=None):
    """Write a MailLog row (kind "test") for one Test SMTP *report* of *config*.

    Test SMTP sends a real message, so it belongs in the log beside the others:
    whoever pressed the button finds its outcome there later. A database error
    is logged, never raised over the report.
    """
    failure = report.failure
    if failure is None:
        status = MailLog.Status.SENT
    elif report.accepted:
        status = MailLog.Status.PARTIAL
    else:
        status = MailLog.Status.FAILED
    error = ""
    if failure is not None:
        error = "\n".join(line.strip() for line in report.step_lines(failure))
    entry = LogEntry(
        scope=config.scope, config_user_id=config.user_id,
        sent_by_id=getattr(user, "pk", None) if getattr(user, "is_authenticated", False)
        else None,
        transport=config.transport, server=config.server or "",
        subject=report.headline()[:2000], status=status, kind=MailLog.Kind.TEST,
        error=error, sender=config.sender_email or "",
        recipients=", ".join([*report.accepted, *report.refused]),
        refused_recipients="; ".join(f"{a} ({r})" for a, r in report.refused.items()),
        message_id=report.message_id or "", envelope_id=report.envelope_id or "",
        note="\n".join(report.summary().splitlines()[1:]),
    )
    buffer = LogBuffer()
    buffer.add(entry, (config.password, config.attachment_password))
    buffer.flush()


def insert(entries):
    """INSERT *entries* into MailLog with one executemany."""
    alias = router.db_for_write(MailLog)
    connection = connections[alias]
    columns = [f for f in MailLog._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 - names from the model
        quote(MailLog._meta.db_table),
        ", ".join(quote(f.column) for f in columns),
        ", ".join(["%s"] * len(columns)),
    )
    # Entries hold str/int/None already; only the timestamp needs the backend's format.
    stamp = MailLog._meta.get_field("created_at")
    names = [f.attname for f in columns]
    at = names.index(stamp.attname)
    params = []
    for entry in entries:
        row = [getattr(entry, name) for name in names]
        row[at] = stamp.get_db_prep_save(entry.created_at, connection)
        params.append(row)
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        cursor.executemany(sql, params)


assert {f.name for f in fields(LogEntry)} >= {
    f.attname for f in MailLog._meta.concrete_fields if not f.primary_key
}, "LogEntry must carry every MailLog column"
