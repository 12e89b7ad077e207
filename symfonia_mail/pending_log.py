"""MailLog rows handed to the log writer and not yet in the database, and waiting for them.

The log writer (tracking/log_writer.py) writes the rows of sends made outside
any transaction in a thread of its own. Everything in this process that reads
those rows waits here first - MailLog and DeliveryEvent querysets, and
``SendStatus.maillog_id`` - so a send is always followed by its row, as when
the caller wrote it itself. It sits at the bottom of the package so that the
models and the signals can wait without importing the writer.

Tickets count the rows handed over: the rows of ticket *n* are written (or
reported lost in the log) once ``finished >= n``; rows are written in order.
"""

import os
import threading

from django.db import DEFAULT_DB_ALIAS, transaction

# A reader waits at most this long for the writer (a database that is down for longer
# than this is the writer's to report); the read then goes on without the rows.
WAIT_SECONDS = 30.0
# The same inside a transaction: it may hold the lock the writer waits for (SQLite).
IN_TRANSACTION_WAIT = 2.0


class PendingLog:
    """Counts of rows handed over and written, and the condition that tells of progress."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.handed = 0  # rows handed to the writer since the process started
        self.finished = 0  # of those, rows written or reported lost
        self.hurry = False  # a reader waits: the writer writes now, gathers no more
        # The writer's own reads never wait for themselves.
        self.writer_thread: threading.Thread | None = None

    def hand_over(self, count: int) -> int:
        """Count *count* more rows as pending; return their ticket (call under ``condition``)."""
        self.handed += count
        return self.handed

    def finish(self, ticket: int) -> None:
        """Record that every row up to *ticket* is written (or reported lost)."""
        with self.condition:
            self.finished = max(self.finished, ticket)
            self.condition.notify_all()

    def waiting(self) -> int:
        """Return how many rows are handed over and not yet finished."""
        return self.handed - self.finished

    def wait(self, ticket: int | None = None, timeout: float = WAIT_SECONDS) -> bool:
        """Wait until the rows of *ticket* (None: all handed over so far) are finished.

        Returns True when they are; immediately in the writer's own thread.
        """
        if self.finished >= (self.handed if ticket is None else ticket):
            return True  # the usual case: no lock taken
        if threading.current_thread() is self.writer_thread:
            return False
        with self.condition:
            target = self.handed if ticket is None else ticket
            self.hurry = True
            self.condition.notify_all()
            return self.condition.wait_for(lambda: self.finished >= target, timeout)

    def wait_to_read(self, ticket: int | None = None, alias: str = DEFAULT_DB_ALIAS) -> bool:
        """Wait as a reader on database *alias* does: shortly inside a transaction.

        A transaction may hold SQLite's write lock, which the writer then waits for:
        the reader goes on after IN_TRANSACTION_WAIT, never a deadlock (the rows come
        once the transaction ends).
        """
        if self.finished >= (self.handed if ticket is None else ticket):
            return True
        in_transaction = not transaction.get_autocommit(alias)
        return self.wait(ticket, IN_TRANSACTION_WAIT if in_transaction else WAIT_SECONDS)

    def forget(self) -> None:
        """Start empty (in a forked child: its parent's rows are its parent's to write)."""
        self.condition = threading.Condition()
        self.handed = self.finished = 0
        self.hurry = False
        self.writer_thread = None


pending = PendingLog()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=pending.forget)
