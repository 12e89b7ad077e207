"""Delivery events: the summary of a message's events, their digest, refusals at send time.

``MailLog.delivery`` sums up the latest event per recipient (DESIGN.md §11):
a final word (delivered, failed …) is never undone by a later-dated
``delayed``; some but not all recipients failed is ``partly_bounced``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

from django.db import DatabaseError, router, transaction

from ..models import DeliveryEvent, MailLog
from ..problems import reply_text
from ..signals import delivery_report
from .status_codes import status_code

logger = logging.getLogger("symfonia_mail")

Action = DeliveryEvent.Action
Delivery = MailLog.Delivery


def summarize(events: Iterable[tuple[str, str]], recipients: Iterable[str] = ()) -> str:
    """Return the ``MailLog.delivery`` for (recipient, action) *events*, oldest first.

    *recipients* are the message's envelope recipients: a message is ``bounced``
    only when every one of them failed.
    """
    latest: dict[str, str] = {}
    for recipient, action in events:
        key = recipient.lower()
        # A report can arrive late: "still trying" never replaces a final word.
        if action == Action.DELAYED and latest.get(key, Action.DELAYED) != Action.DELAYED:
            continue
        latest[key] = action
    if not latest:
        return Delivery.UNKNOWN
    failed = {key for key, action in latest.items() if action == Action.FAILED}
    if failed:
        everyone = {address.strip().lower() for address in recipients if address.strip()}
        return Delivery.BOUNCED if failed >= (everyone | set(latest)) else Delivery.PARTLY_BOUNCED
    if Action.DELAYED in latest.values():
        return Delivery.DELAYED
    return Delivery.DELIVERED


def envelope_recipients(maillog: MailLog) -> list[str]:
    """Return the envelope recipients of *maillog* (stored comma-separated)."""
    return [address.strip() for address in maillog.recipients.split(",") if address.strip()]


def digest(maillog_id: int, recipient: str, action: str, status: str, source: str,
           stamp: str) -> str:
    """Return the identity of an event: the same report read twice gives the same digest."""
    text = "\0".join([str(maillog_id), recipient.lower(), action, status, source, stamp])
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def refusal_events(maillog: MailLog, refused: dict[str, tuple[int, str]]) -> list[DeliveryEvent]:
    """Return unsaved ``failed`` events (source smtp) for the recipients refused at RCPT."""
    events = []
    for address, (code, reply) in refused.items():
        text = f"{code} {reply_text(reply)}".replace("\n", " ").strip()
        code_text = status_code(text)
        events.append(DeliveryEvent(
            maillog=maillog, recipient=address[:320], action=Action.FAILED, status=code_text,
            diagnostic=text, source=DeliveryEvent.Source.SMTP, reported_at=maillog.created_at,
            digest=digest(maillog.pk, address, Action.FAILED, code_text, "smtp", ""),
        ))
    return events


def refused_delivery(recipients: Iterable[str], refused: Iterable[str]) -> str:
    """Return the ``MailLog.delivery`` of a message whose *refused* recipients were refused."""
    return summarize([(address, Action.FAILED) for address in refused], recipients)


def record_refusals(rows: Iterable[MailLog]) -> int:
    """Insert the refusal events of freshly written *rows*; return how many.

    One bulk insert for the whole batch (no query per message); rows without
    refusals, or not written, cost nothing. ``delivery_report`` is sent per event.
    """
    events = [event for row in rows if row.pk
              for event in refusal_events(row, getattr(row, "refusals", None) or {})]
    if not events:
        return 0
    alias = router.db_for_write(DeliveryEvent)
    try:
        with transaction.atomic(using=alias):
            DeliveryEvent.objects.using(alias).bulk_create(events)
    except DatabaseError as exc:
        logger.warning("Refused recipients of %d message(s) not recorded as delivery events: %s",
                       len({event.maillog_id for event in events}), exc)
        return 0
    for event in events:
        delivery_report.send(DeliveryEvent, maillog=event.maillog, event=event)
    return len(events)
