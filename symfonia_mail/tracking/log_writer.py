"""The log writer: MailLog rows of sends outside a transaction, written by a thread of their own.

A ``send_mail`` outside any transaction used to commit its MailLog row before it
returned. That commit is the slowest step of a call on a kept connection: on
PostgreSQL with durable commits and on SQLite's default journal it waits for
the disk; even on SQLite's WAL it costs as much CPU as the SMTP exchange
(bench/bench_single.py). Here the caller hands its rows over and returns at the
server's reply; one thread per process writes whatever rows have gathered in
one transaction, in the order they were handed over, usually within a
millisecond or two (``SYMFONIA_MAIL["LOG_WRITER"]``, docs/connections.md).

Nothing is lost that the caller's own write would have kept:

- reads in this process wait for the rows handed over (``pending_log``):
  MailLog and DeliveryEvent querysets, ``SendStatus.maillog_id``;
- a database that is only busy ("locked") is waited for up to
  ``BUSY_PATIENCE`` seconds; a row it still refuses is named in an ERROR log
  line, as when the caller's own write fails (rows.write);
- interpreter exit waits for the rows (atexit); a forked child never writes
  its parent's rows (pending_log forgets them);
- the writer is not used when the rows cannot wait: a caller inside a
  transaction (its rows join it, as before), a ``post_send`` receiver (it is
  promised the row's id), a ``delivery_report`` receiver of a refusal;
- a caller that hands over faster than the database takes is slowed down at
  ``MAX_WAITING`` rows, never lets them pile up in memory.
"""

import atexit
import logging
import os
import threading
import time

from django.db import OperationalError, connections, router, transaction

from .. import conf
from ..models import DeliveryEvent, MailLog
from ..pending_log import pending
from ..signals import delivery_report, post_send
from .delivery_state import record_refusals
from .rows import insert, report_lost, write

logger = logging.getLogger("symfonia_mail")

# Seconds the writer waits for a busy database (another writer holds its lock) before it
# writes row by row and reports what still fails.
BUSY_PATIENCE = 10.0
# The thread ends after this many idle seconds, closing its database connection (the
# next hand-over starts it again): no connection held by a process that stopped sending.
IDLE_SECONDS = 1.0
# Seconds the writer lets rows gather before it writes them in one transaction (unless a
# reader in the process is waiting for them): one commit for the rows of many calls.
GATHER_SECONDS = 0.02
# Rows handed over and not yet written at which a caller waits for the writer.
MAX_WAITING = 5000
# Seconds interpreter exit waits for the rows still to be written.
EXIT_WAIT = 30.0


class LogWriter:
    """The process's writer thread and the rows it has still to write."""

    def __init__(self):
        self.queue = []  # (ticket, entries) in the order handed over
        self.thread = None

    def takes(self, entries):
        """Hand *entries* over and return True, or False when the caller must write them."""
        if not entries or not self.may_defer(entries):
            return False
        condition = pending.condition
        with condition:
            if pending.waiting() >= MAX_WAITING:
                condition.wait_for(lambda: pending.waiting() < MAX_WAITING, EXIT_WAIT)
            ticket = pending.hand_over(len(entries))
            for entry in entries:
                entry.log_ticket = ticket
            self.queue.append((ticket, entries))
            if self.thread is None:
                self.thread = threading.Thread(target=self.run, name="symfonia_mail log writer",
                                               daemon=True)
                pending.writer_thread = self.thread
                self.thread.start()
            condition.notify_all()
        return True

    @staticmethod
    def may_defer(entries):
        if not conf.get("LOG_WRITER"):
            return False
        if not transaction.get_autocommit(using=router.db_for_write(MailLog)):
            return False  # inside the caller's transaction: the rows belong to it
        if post_send.receivers:  # any receiver, for any sender
            return False  # post_send promises the row's id
        refusals = any(getattr(entry, "refusals", None) for entry in entries)
        return not (refusals and delivery_report.has_listeners(DeliveryEvent))

    def queued(self):
        return sum(len(entries) for _ticket, entries in self.queue)

    def run(self):
        condition = pending.condition
        batch_size = conf.get("LOG_BATCH_SIZE")
        try:
            while True:
                with condition:
                    if not condition.wait_for(lambda: self.queue, IDLE_SECONDS):
                        self.thread = None  # a hand-over from now on starts a new thread
                        pending.writer_thread = None
                        return
                    # More rows may come in a moment: one transaction for all of them,
                    # unless a reader waits for them now, or a batch is full.
                    condition.wait_for(lambda: pending.hurry or self.queued() >= batch_size,
                                       GATHER_SECONDS)
                    pending.hurry = False
                    batches, self.queue = self.queue, []
                for ticket, entries in _gathered(batches):
                    try:
                        write_patiently(entries)
                    except Exception as exc:  # noqa: BLE001 - the thread lives on
                        logger.exception("Writing %d MailLog row(s) failed", len(entries))
                        for entry in entries:
                            if entry.pk is None:
                                report_lost(entry, exc)
                    finally:
                        pending.finish(ticket)
        finally:
            connections.close_all()  # this thread's own connections

    def forget(self):
        """Start empty in a forked child: the rows handed over are the parent's to write."""
        self.queue, self.thread = [], None


def _gathered(batches):
    """Join consecutive batches into transactions of at most LOG_BATCH_SIZE rows."""
    size = conf.get("LOG_BATCH_SIZE")
    ticket, entries = None, []
    for batch_ticket, batch in batches:
        if entries and len(entries) + len(batch) > size:
            yield ticket, entries
            entries = []
        ticket = batch_ticket
        entries.extend(batch)
    if entries:
        yield ticket, entries


def write_patiently(entries):
    """Write *entries* and their refusal events; wait out a busy database first."""
    alias = router.db_for_write(MailLog)
    deadline = time.monotonic() + BUSY_PATIENCE
    pause = 0.005
    while True:
        try:
            insert(entries, alias)
            break
        except OperationalError:
            # Busy, or the connection broke (a restarted server): a new one next time.
            connections[alias].close_if_unusable_or_obsolete()
            if time.monotonic() + pause > deadline:
                write(entries)  # row by row; what still fails is named in the log
                break
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
    record_refusals(entries)


writer = LogWriter()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=writer.forget)


def wait_for_log(timeout=EXIT_WAIT):
    """Wait until this process's MailLog rows handed to the writer are written (tests, exit)."""
    return pending.wait(timeout=timeout)


atexit.register(wait_for_log)
