"""Overdue-payment reminders: one message per contractor, sent once a day.

The public names live here (``from symfonia_mail.reminders import send_reminders``);
``sending`` builds and sends, ``claims`` makes each reminder once across processes,
``runs`` splits a background run into tasks.
"""

from .sending import (
    ContractorReminder,
    OverdueDocument,
    ReminderResult,
    Status,
    count,
    documents_digest,
    reminded_today,
    require_smtp,
    send_reminders,
)

__all__ = [
    "ContractorReminder", "OverdueDocument", "ReminderResult", "Status", "count",
    "documents_digest", "reminded_today", "require_smtp", "send_reminders",
]
