"""Record what happened to each message: MailLog rows written in bulk, and log lines.

Entries are unsaved ``MailLog`` instances collected per connection and written
with ``bulk_create`` (one INSERT per batch; a commit per message would cost as
much as building the message): in the caller's transaction when there is one,
else by the log writer's thread (log_writer). An entry is only added once the
outcome is known, so a crash can lose entries of sent mail but never report
unsent mail as sent. When a bulk insert fails, the rows are retried one by one,
and a row that still cannot be written leaves one ERROR line naming its message
(rows.write).
"""

import logging

from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from .. import conf
from ..context import user_pk
from ..models import MailLog
from ..problems import format_refused, problem_record
from ..secret import Scrubber
from ..signals import decode_refused
from .delivery_state import record_refusals, refused_delivery
from .log_writer import writer
from .rows import describe_error, which, write

__all__ = ["LOST_AFTER_DATA", "LogBuffer", "LogEntry", "describe_error", "lost_after_data",
           "note_refused", "record_problem", "record_test_run", "redact", "redact_problem",
           "which", "write"]

logger = logging.getLogger("symfonia_mail")

# Why a message is "unknown": sent whole, and the connection lost before the reply.
LOST_AFTER_DATA = gettext_noop(
    "The connection was lost after the message was sent, before the server confirmed it: "
    "it may or may not have been accepted. It is not sent again automatically; check with "
    "the recipient, then resend it from the mail log if needed."
)


def LogEntry(**values):  # noqa: N802 - kept as the name callers know; it builds a model row
    """Return an unsaved MailLog row (keyword arguments are the model's attnames)."""
    return MailLog(**values)


def redact(text, secrets):
    """Return *text* with every secret (str or Secret), and its base64 forms, masked."""
    return Scrubber(*secrets)(text) if text else text


def record_problem(row, exc):
    """Set *row*'s error (English) and problem (rendered in the reader's language)."""
    row.error = describe_error(exc)
    row.problem = problem_record(exc, text=row.error)


def lost_after_data(error, problem):
    """Return the (error, problem) of a message lost after its final ".", from its cause's."""
    return f"{LOST_AFTER_DATA} ({error})", {"msgid": LOST_AFTER_DATA, "cause": problem}


def redact_problem(value, secrets):
    """Return a problem record (or any JSON value) with every secret in its texts masked."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {key: redact_problem(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_problem(item, secrets) for item in value]
    return value


class LogBuffer:
    """Log entries waiting for a bulk insert."""

    def __init__(self):
        self.entries = []

    def add(self, entry, secrets=()):
        """Queue *entry*, write the matching log line, flush when the batch is full."""
        # The time of the outcome, not of the (later) bulk insert.
        entry.created_at = timezone.now()
        if entry.error:
            entry.error = redact(entry.error, secrets)
        if entry.note:
            entry.note = redact(entry.note, secrets)
        if entry.problem:
            entry.problem = redact_problem(entry.problem, secrets)
        if entry.status == MailLog.Status.SENT:
            logger.info("Sent %s to %s via %s", which(entry), entry.recipients, entry.scope)
        else:
            logger.warning("Mail %s %s via %s: %s", which(entry), entry.status, entry.scope,
                           entry.error)
        if entry.note:
            logger.info("%s: %s", which(entry), entry.note)
        self.entries.append(entry)
        if len(self.entries) >= conf.get("LOG_BATCH_SIZE"):
            self.flush()

    def flush(self):
        """Write the queued entries; a database error is logged, never raised over a send.

        Outside a transaction they go to the log writer's thread (log_writer), and
        the send does not wait for the database.
        """
        if not self.entries:
            return
        entries, self.entries = self.entries, []
        if writer.takes(entries):
            return
        write(entries)
        record_refusals(entries)


def note_refused(row, refused):
    """Put smtplib's *refused* recipients on log *row*: the text, the events, the summary."""
    row.refused_recipients = format_refused(refused)
    # Not a field: record_refusals() turns it into DeliveryEvents once the row has its id.
    row.refusals = decode_refused(refused)
    row.delivery = refused_delivery(row.recipients.split(","), refused)


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
    # English columns (logs, grep); the page renders `problem` in the reader's language.
    with translation.override("en"):
        headline = report.headline()
        error = "" if failure is None else "\n".join(
            line.strip() for line in report.step_lines(failure))
    entry = LogEntry(
        scope=config.scope, config_user_id=config.user_id,
        sent_by_id=user_pk(user),
        transport=config.transport, server=config.server or "",
        subject=headline[:2000], status=status, kind=MailLog.Kind.TEST,
        error=error, problem=report.as_record(), sender=config.sender_email or "",
        recipients=", ".join([*report.accepted, *report.refused]),
        refused_recipients="; ".join(f"{a} ({r})" for a, r in report.refused.items()),
        message_id=report.message_id or "", envelope_id=report.envelope_id or "",
        note="\n".join(report.summary(language="en").splitlines()[1:]),
    )
    buffer = LogBuffer()
    buffer.add(entry, (config.password, config.attachment_password))
    buffer.flush()


