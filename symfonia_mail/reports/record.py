"""Apply a delivery report: find the message it is about and record one event per recipient.

Matching (DESIGN.md §11): the envelope id first (our own ENVID, the MailLog
row's), then each original Message-ID the report returns, then its
``In-Reply-To``/``References``; never by a recipient's address alone. A report
about no message of ours records nothing.
"""

from __future__ import annotations

import logging

from django.db import connections, router, transaction
from django.db.models import F
from django.utils import timezone

from ..models import DeliveryEvent, MailLog
from ..signals import delivery_report
from ..tracking.delivery_state import digest, envelope_recipients, summarize
from .parse import parse_report
from .types import Report

logger = logging.getLogger("symfonia_mail")


def apply_report(data: bytes) -> MailLog | None:
    """Parse *data*, record its events on the message it is about; return that MailLog row."""
    report = parse_report(data)
    return None if report is None else apply_parsed(report)


def apply_parsed(report: Report) -> MailLog | None:
    """Record an already parsed *report*; return its MailLog row, or None when none is ours.

    For a caller that counts what it reads: ``parse_report`` None is no report at
    all, ``apply_parsed`` None a report about no message of ours.
    """
    maillog = find_maillog(report)
    if maillog is None:
        logger.info("Delivery report (%s) about no message of ours: envelope id %r, "
                    "Message-ID %r", report.kind, report.envelope_id or "-",
                    report.original_message_id or "-")
        return None
    if report.kind == "autoreply" or not report.recipients:
        return maillog  # an auto-reply says nothing about delivery
    record(maillog, report)
    return maillog


def find_maillog(report: Report) -> MailLog | None:
    """Return the MailLog row *report* is about: by envelope id, then by Message-ID."""
    if report.envelope_id:
        value = report.envelope_id.strip()
        # Our ENVIDs are lower-case hex; some servers (aiosmtpd) upper-case them.
        found = (MailLog.objects.filter(envelope_id__in={value, value.lower(), value.upper()})
                 .order_by("-id").first())
        if found is not None:
            return found
    for candidates in (report.message_ids, report.references):
        found = _by_message_id(candidates)
        if found is not None:
            return found
    return None


def _by_message_id(candidates) -> MailLog | None:
    ids = [value for value in candidates if value][:50]
    if not ids:
        return None
    rows = {row.message_id: row for row in MailLog.objects.filter(message_id__in=ids)
            .exclude(message_id="").order_by("id")}
    return next((rows[value] for value in ids if value in rows), None)


def record(maillog: MailLog, report: Report) -> list[DeliveryEvent]:
    """Record *report*'s recipients on *maillog*; return the events that are new.

    The row is locked while the events go in and the summary is computed, so
    two workers applying reports of one message at once both count; an event
    already recorded (the same digest) is skipped, so the same report twice
    records nothing new. A fixed number of queries, whatever the recipients.
    """
    alias = router.db_for_write(DeliveryEvent)
    now = timezone.now()
    with transaction.atomic(using=alias):
        rows = MailLog.objects.using(alias).filter(pk=maillog.pk)
        if not connections[alias].features.has_select_for_update:
            # SQLite has no row locks: a write takes the database's write lock until
            # commit, so a second process waits here rather than fail to upgrade its
            # read lock later ("database is locked").
            rows.update(delivery=F("delivery"))
        locked = rows.select_for_update().first()
        if locked is None:
            return []  # the message was deleted meanwhile
        events: dict[str, DeliveryEvent] = {}
        for recipient in report.recipients:
            when = recipient.reported_at or report.reported_at
            event = DeliveryEvent(
                maillog=locked, recipient=recipient.address[:320], action=recipient.action,
                status=recipient.status[:16], diagnostic=recipient.diagnostic,
                remote_mta=recipient.remote_mta[:255], source=DeliveryEvent.Source.REPORT,
                reported_at=when or now, recorded_at=now,
                digest=digest(locked.pk, recipient.address, recipient.action,
                              recipient.status, "report", when.isoformat() if when else ""),
            )
            events.setdefault(event.digest, event)
        # The row lock serialises the reports of one message: what is not here yet is
        # ours to insert (the unique digest still guards any other writer).
        known = set(DeliveryEvent.objects.using(alias)
                    .filter(digest__in=list(events)).values_list("digest", flat=True))
        new = [event for key, event in events.items() if key not in known]
        DeliveryEvent.objects.using(alias).bulk_create(new)
        if new:
            history = (DeliveryEvent.objects.using(alias).filter(maillog=locked)
                       .order_by("reported_at", "id").values_list("recipient", "action"))
            locked.delivery = summarize(history, envelope_recipients(locked))
            MailLog.objects.using(alias).filter(pk=locked.pk).update(delivery=locked.delivery)
    maillog.delivery = locked.delivery
    for event in new:
        delivery_report.send(DeliveryEvent, maillog=maillog, event=event)
    return new
