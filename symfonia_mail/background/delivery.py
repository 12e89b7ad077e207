"""Background sending: the task that sends one outbox message, with retries.

State machine of a MailLog row (docs/background.md)::

    queued --claim--> sending --> sent | partial | failed
                         |  \\--> retry --claim--> sending ...
                         \\--(worker died; stale claim)--> unknown
    queued | retry --cancel--> cancelled;  failed | unknown --resend--> queued

A claim is one conditional UPDATE (queued/retry -> sending): whichever task
wins it sends, every other copy of the task finds nothing to do. So a task
may run twice (re-enqueued after a lost worker) but a message is sent once.
A row left ``sending`` by a worker that died may have been accepted by the
server: it becomes ``unknown`` and is never sent again automatically.
"""

import dataclasses
import logging
import os
import random
import smtplib
import socket
import threading
import time
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext_noop

from .. import conf, signals
from ..config import resolver
from ..exceptions import MailApiError, OAuthError, RecipientsRefused
from ..mailapi import API_TRANSPORTS, transport_for
from ..mailbox import sent_copy
from ..models import MailLog, OutboxMessage, UserMailConfig
from ..problems import problem_record
from ..replies import format_refused as _format_refused
from ..smtp import pool as smtp_pool
from ..tracking.delivery_state import record_refusals, refused_delivery
from ..tracking.maillog import describe_error, lost_after_data, redact, redact_problem
from . import ratelimit, taskq

logger = logging.getLogger("symfonia_mail")
Status = MailLog.Status

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"[:255]
TEMPORARY_ERRORS = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError)
_last_sweep = 0.0
# Sent with each worker's sweep: modules of later layers (reminder_runs) find their own
# lost work on it, without this module importing them.
housekeeping = Signal()
REQUEUE_BATCH = 100  # rows a sweep enqueues again at most
# A worker's IMAP session for the Sent copy, kept for its next message (SMTP's own
# connections are kept by smtp.pool).
_kept = threading.local()
WORKER_STOPPED = gettext_noop(
    "The worker stopped while sending: the server may or may not have accepted the "
    "message. It is not sent again automatically; check with the recipient, then "
    "resend it from the mail log if needed."
)


def send_queued(log_id):
    """Send the outbox message of MailLog *log_id* if it can be claimed; return its status."""
    sweep_if_due()
    inline_left = 0 if taskq.can_defer() else conf.get("INLINE_RETRIES")
    while True:
        outbox = claim(log_id)
        if outbox is None:
            return None
        outcome = attempt(outbox)
        if outcome.status != Status.RETRY:
            status = finish(outbox, outcome)
            if status in (Status.SENT, Status.PARTIAL):
                file_sent_copy(outbox)  # after the row says sent: it never delays that
            return status
        when = retry_time(outbox, outcome.retry_after)
        if when is None:
            outcome.status = Status.FAILED
            outcome.error = f"Gave up after {outbox.log.attempts} attempt(s): {outcome.error}"
            return finish(outbox, outcome)
        if taskq.can_defer():
            finish(outbox, outcome, next_attempt_at=when)
            taskq.enqueue(send_queued_task, log_id, run_after=when)
            return Status.RETRY
        # A Retry-After longer than an in-process wait cannot be honoured here.
        if inline_left <= 0 or (outcome.retry_after or 0) > conf.get("INLINE_RETRY_DELAY"):
            outcome.status = Status.FAILED
            outcome.error = (
                f"Gave up after {outbox.log.attempts} attempt(s); the Tasks backend cannot "
                f"run a retry later: {outcome.error}"
            )
            return finish(outbox, outcome)
        inline_left -= 1
        delay = min((when - timezone.now()).total_seconds(), conf.get("INLINE_RETRY_DELAY"))
        when = timezone.now() + timedelta(seconds=max(delay, 0))
        finish(outbox, outcome, next_attempt_at=when)
        time.sleep(max(delay, 0))


def file_sent_copy(outbox):
    """Append *outbox*'s message to its configuration's Sent folder when it wants one."""
    try:
        config = config_for_key(outbox.config_key)
    except LookupError:
        return
    if not sent_copy.wanted(config) or outbox.data is None:
        return
    if not taskq.can_defer():  # the immediate backend runs in the caller: nothing kept
        sent_copy.file_copy(config, bytes(outbox.data))
        return
    # A worker keeps its IMAP session for the next message, as it keeps its SMTP one.
    copies = getattr(_kept, "copies", None)
    if copies is None or time.monotonic() - _kept.copies_used >= conf.get("KEEP_ALIVE"):
        forget_sent_copies()
        copies = _kept.copies = sent_copy.SentCopies()
    sent_copy.file_copy(config, bytes(outbox.data), copies)
    _kept.copies_used = time.monotonic()


def forget_sent_copies():
    """Log out of this thread's kept Sent-copy IMAP sessions, if any."""
    copies = getattr(_kept, "copies", None)
    _kept.copies = None
    if copies is not None:
        copies.close()


def send_queued_task(log_id):
    """Send the outbox message of MailLog *log_id* (the Tasks framework's entry point)."""
    status = send_queued(log_id)
    return str(status) if status else None


# A worker finds a task by its function's module and name: bind the Task to that name.
send_queued_task = taskq.define(send_queued_task)


def enqueue_ids(ids, run_after=None):
    """Enqueue one sending task per MailLog id."""
    for log_id in ids:
        taskq.enqueue(send_queued_task, log_id, run_after=run_after)


def claim(log_id):
    """Claim MailLog *log_id* for sending; return its OutboxMessage, or None if not ours."""
    now = timezone.now()
    with transaction.atomic():
        won = MailLog.objects.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
            pk=log_id, status__in=(Status.QUEUED, Status.RETRY),
        ).update(status=Status.SENDING, attempts=F("attempts") + 1, next_attempt_at=None)
        if not won:
            return None
        OutboxMessage.objects.filter(pk=log_id).update(claimed_at=now, claimed_by=WORKER_ID)
    return OutboxMessage.objects.select_related("log").get(pk=log_id)


@dataclasses.dataclass
class Outcome:
    """What one attempt ended with."""

    status: str
    error: str = ""
    refused: str = ""
    refused_replies: dict = dataclasses.field(default_factory=dict)  # for SendStatus.refused
    dsn_requested: str = ""
    envelope_id: str = ""
    note: str = ""
    retry_after: float | None = None  # seconds the server asked us to wait (Retry-After)
    problem: dict = dataclasses.field(default_factory=dict)  # MailLog.problem

    @classmethod
    def of(cls, status, exc, secrets, **fields):
        """Return the Outcome of *exc*: its English error and its problem record."""
        error = redact(describe_error(exc), secrets)
        problem = redact_problem(problem_record(exc, text=error), secrets)
        return cls(status, error, problem=problem, **fields)


def attempt(outbox):
    """Send *outbox* once; return the Outcome."""
    try:
        config = config_for_key(outbox.config_key)
    except LookupError as exc:
        return Outcome(Status.FAILED, str(exc))
    # DSN as asked when the message was queued.
    notify = tuple(filter(None, outbox.dsn_notify.split(",")))
    config = dataclasses.replace(config, dsn_notify=notify)
    secrets = (config.password, config.attachment_password)
    if config.rate_limit:
        ratelimit.acquire(config.key, config.rate_limit)
    try:
        delivery = _deliver(config, outbox)
    except smtplib.SMTPRecipientsRefused as exc:
        refused = _format_refused(exc.recipients)
        temporary = all(400 <= code < 500 for code, _reply in exc.recipients.values())
        return Outcome.of(Status.RETRY if temporary else Status.FAILED, exc, secrets,
                          refused=refused,
                          refused_replies=signals.decode_refused(exc.recipients))
    except smtplib.SMTPResponseException as exc:
        status = Status.RETRY if 400 <= exc.smtp_code < 500 else Status.FAILED
        return Outcome.of(status, exc, secrets)
    except MailApiError as exc:
        if exc.outcome_unknown:  # sent, no answer: the API may have sent it (no doubles)
            return Outcome.of(Status.UNKNOWN, exc, secrets)
        return Outcome.of(Status.RETRY if exc.temporary else Status.FAILED, exc, secrets,
                          retry_after=exc.retry_after)
    except OAuthError as exc:
        # Only an unreachable identity platform passes; revoked consent or an expired
        # secret needs a person (the admin shows the connection as broken).
        status = Status.RETRY if exc.code == "oauth_unreachable" else Status.FAILED
        return Outcome.of(status, exc, secrets)
    except TEMPORARY_ERRORS as exc:
        if getattr(exc, "symfonia_stage", "") == "message":
            # The whole message went out and no reply came (smtp.connection.
            # mark_outcome_unknown): the server may have it; sending again could double it.
            cause = Outcome.of(Status.UNKNOWN, exc, secrets)
            error, problem = lost_after_data(cause.error, cause.problem)
            return Outcome(Status.UNKNOWN, error, problem=problem)
        return Outcome.of(Status.RETRY, exc, secrets)
    except Exception as exc:  # noqa: BLE001 - anything else fails this message, logged, not the worker
        return Outcome.of(Status.FAILED, exc, secrets)
    outcome = Outcome(Status.SENT, dsn_requested=delivery.dsn_requested,
                      envelope_id=delivery.envelope_id, note=redact(delivery.note, secrets))
    if delivery.refused:
        outcome.status = Status.PARTIAL
        outcome.refused = _format_refused(delivery.refused)
        outcome.refused_replies = signals.decode_refused(delivery.refused)
        refusal = Outcome.of(Status.PARTIAL, RecipientsRefused(delivery.refused), secrets)
        outcome.error, outcome.problem = refusal.error, refusal.problem
    return outcome


def _deliver(config, outbox):
    """Deliver *outbox* through *config*; return the Delivery.

    A worker keeps its connection for the next message of the same configuration
    (smtp_pool: no new TCP, TLS and login per message); a kept connection the
    server dropped meanwhile is replaced before the message is written.
    """
    if config.transport in API_TRANSPORTS:
        # No connection to keep: the API's HTTP pool is per process.
        return transport_for(config).deliver(outbox.sender, list(outbox.recipients),
                                             bytes(outbox.data))
    smtp = smtp_pool.checkout(config, token=resolver.cached_generation().token,
                              wait_when_busy=False)  # "too many connections": retry later
    try:
        delivery = smtp.deliver(outbox.sender, list(outbox.recipients), bytes(outbox.data))
    except BaseException:
        smtp.discard()
        raise
    if taskq.can_defer():  # a worker process; the immediate backend runs in the caller
        smtp_pool.checkin(smtp)
    else:
        smtp.discard()
    return delivery


def forget_connection():
    """Close the connections this process keeps (tests; a worker's shutdown).

    SMTP connections live in smtp.pool; this thread's Sent-copy IMAP sessions here.
    """
    forget_sent_copies()
    smtp_pool.close_all()


def finish(outbox, outcome, next_attempt_at=None):
    """Record *outcome* on the claimed row (only while it is still ours); return the status."""
    status = Status.RETRY if next_attempt_at is not None else outcome.status
    log = outbox.log
    # Recipients refused for good are delivery events (source smtp), as in a direct send.
    refusals = outcome.refused_replies if next_attempt_at is None else {}
    extra = {"delivery": refused_delivery(log.recipients.split(","), refusals)} if refusals else {}
    updated = MailLog.objects.filter(pk=outbox.pk, status=Status.SENDING).update(
        status=status, error=outcome.error, problem=outcome.problem,
        refused_recipients=outcome.refused,
        dsn_requested=outcome.dsn_requested, envelope_id=outcome.envelope_id,
        note=outcome.note, next_attempt_at=next_attempt_at, **extra,
    )
    OutboxMessage.objects.filter(pk=outbox.pk).update(claimed_at=None, claimed_by="")
    if updated and refusals:
        log.refusals = refusals
        record_refusals([log])
    if not updated:
        logger.warning("Mail %s: the outcome %s came after the row changed (e.g. marked "
                       "unknown); it is not recorded", log.message_id, status)
    elif status == Status.SENT:
        logger.info("Sent %s to %s (attempt %d)", log.message_id, log.recipients,
                    log.attempts)
    else:
        logger.warning("Mail %s %s (attempt %d): %s", log.message_id, status, log.attempts,
                       outcome.error)
    if updated and next_attempt_at is None:
        # The sender is this worker function: the backend class that queued the
        # message is not known here (and this layer does not import the backends).
        signals.post_send.send(
            send_queued, message=None, user=None, status=signals.SendStatus(
                message_id=log.message_id, status=status, refused=outcome.refused_replies,
                envelope_id=outcome.envelope_id, error=outcome.error, _maillog_id=log.pk,
            ),
        )
    return status


def retry_time(outbox, retry_after=None):
    """Return when to try *outbox* again, or None when its attempts or age are used up.

    Never earlier than *retry_after* seconds (the server's Retry-After).
    """
    log = outbox.log
    if log.attempts >= conf.get("RETRY_ATTEMPTS"):
        return None
    delay = max(backoff(log.attempts), retry_after or 0)
    when = timezone.now() + timedelta(seconds=delay)
    if when > outbox.log.created_at + timedelta(seconds=conf.get("RETRY_MAX_AGE")):
        return None
    return when


def backoff(attempts, rng=random):
    """Return the seconds to wait after *attempts* failed attempts (exponential, jittered)."""
    base = conf.get("RETRY_BASE_DELAY") * 2 ** max(attempts - 1, 0)
    # Jitter spreads the retries of a batch that failed together (a server's 421 burst).
    return min(base, conf.get("RETRY_MAX_DELAY")) * rng.uniform(0.5, 1.5)


def config_for_key(key):
    """Return the ResolvedConfig a message was prepared for (``global`` or ``user:<id>``)."""
    session = resolver.Session()
    if key == "global":
        return session.global_config()

    def build():
        row = UserMailConfig.objects.filter(user_id=int(key.partition(":")[2])).first()
        if row is None:
            raise LookupError(f"The configuration {key} no longer exists.")
        return resolver.from_model(row, company_name=session.global_config().company_name)

    return session.cached("outbox-config", key, build)


def sweep_if_due():
    """Run :func:`sweep` and send :data:`housekeeping` at most once a minute per process."""
    global _last_sweep
    if time.monotonic() - _last_sweep >= 60:
        _last_sweep = time.monotonic()
        sweep()
        housekeeping.send(sender=sweep)


def sweep(now=None):
    """Mark stale ``sending`` rows ``unknown``; enqueue stale queued ones again.

    Return (marked unknown, enqueued again).
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=conf.get("STALE_AFTER"))
    unknown = MailLog.objects.filter(
        status=Status.SENDING, outbox__claimed_at__lt=stale,
    ).update(status=Status.UNKNOWN, error=WORKER_STOPPED, problem={"msgid": WORKER_STOPPED})
    # A row still waiting in a long queue looks the same as one whose task was lost:
    # at most REQUEUE_BATCH rows a sweep, oldest first, so a backlog costs a few no-op
    # tasks, not a second task for each of its rows.
    waiting = list(OutboxMessage.objects.filter(
        Q(log__status=Status.QUEUED) | Q(log__status=Status.RETRY, log__next_attempt_at__lt=stale),
        queued_at__lt=stale,
    ).order_by("queued_at").values_list("pk", flat=True)[:REQUEUE_BATCH])
    if waiting:
        # A lost task (its worker died before claiming) would leave the row queued for
        # ever; a second task for a row still in the queue is harmless (the claim).
        OutboxMessage.objects.filter(pk__in=waiting).update(queued_at=now)
        enqueue_ids(waiting)
    return unknown, len(waiting)
