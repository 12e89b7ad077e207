"""Record what happened to each message: MailLog rows written in bulk, and log lines.

Rows are collected per connection and written with one bulk insert, because
a commit per message costs as much as building the message. A row is only
added once the outcome is known, so a crash can lose rows of sent mail but
never report unsent mail as sent.
"""

import logging

from django.db import DatabaseError

from . import conf
from .models import MailLog

logger = logging.getLogger("symfonia_mail")


def redact(text, secrets):
    """Return *text* with every non-empty secret replaced by ***."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def describe_error(exc):
    """Return a one-line reason for *exc*: its class and message."""
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"


class LogBuffer:
    """MailLog rows waiting for a bulk insert."""

    def __init__(self):
        self.rows = []

    def add(self, row, secrets=()):
        """Queue *row*, write the matching log line, flush when the batch is full."""
        row.error = redact(row.error, secrets)
        row.note = redact(row.note, secrets)
        if row.status == MailLog.Status.SENT:
            logger.info("Sent %s to %s via %s", row.message_id, row.recipients, row.scope)
        else:
            logger.warning(
                "Mail %s %s via %s: %s", row.message_id or row.subject[:60],
                row.status, row.scope, row.error,
            )
        if row.note:
            logger.info("%s: %s", row.message_id, row.note)
        self.rows.append(row)
        if len(self.rows) >= conf.get("LOG_BATCH_SIZE"):
            self.flush()

    def flush(self):
        """Write the queued rows; a database error is logged, never raised over a send."""
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        try:
            MailLog.objects.bulk_create(rows)
        except DatabaseError:
            logger.exception("Could not write %d MailLog row(s)", len(rows))
