"""Read a delivery report: RFC 3464/6533 DSNs, other bounces, auto-replies, ARF complaints.

Pure: bytes in, a :class:`Report` (or ``None``) out; no database. The work is
bounded whatever arrives: the input is cut at ``MAX_BYTES``, at most
``MAX_PARTS`` parts are looked at, ``MAX_DEPTH`` levels deep, and any parser
error gives ``None`` or what was read so far — never a bounce guessed from a
broken message.
"""

from __future__ import annotations

import logging
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from . import nonstandard
from .fields import (
    header_date,
    message_ids,
    status_blocks,
    typed_address,
    typed_text,
    xtext,
)
from .signs import autoreply_signs, bounce_signs
from .types import STATUS_RE, RecipientReport, Report

logger = logging.getLogger("symfonia_mail")

#: Bytes of a report that are read; a DSN's status part and the returned headers come first.
MAX_BYTES = 512 * 1024
#: Parts looked at, and how deep inside nested messages.
MAX_PARTS = 200
MAX_DEPTH = 8
#: Recipients kept from one report (a report names those of one message).
MAX_RECIPIENTS = 500
#: Characters kept of a diagnostic.
MAX_DIAGNOSTIC = 1000

DSN_TYPES = {"message/delivery-status", "message/global-delivery-status"}
MESSAGE_TYPES = {"message/rfc822", "message/global"}
# Headers of a returned message that name the message we sent.
ID_HEADERS = ("Message-ID", "X-Microsoft-Original-Message-ID", "X-Original-Message-ID")

ACTIONS = ("delivered", "relayed", "expanded", "delayed", "failed")
# Non-standard Action values seen in the wild (RFC 1891 drafts, old Exchange).
ACTION_ALIASES = {"failure": "failed", "error": "failed", "delay": "delayed",
                  "deliver": "delivered", "relay": "relayed", "expand": "expanded"}



def parse_report(data: bytes) -> Report | None:
    """Return the delivery report in *data*, or None for a message that is no report."""
    truncated = len(data) > MAX_BYTES
    if truncated:
        data = data[:MAX_BYTES]
    try:
        message = message_from_bytes(data, policy=compat32)
        parts = walk(message)
        report = _read(message, parts, data)
    except (RecursionError, MemoryError):
        logger.warning("Delivery report skipped: too deeply nested to read")
        return None
    except Exception as exc:  # noqa: BLE001 - a malformed message must not stop a run
        logger.warning("Delivery report skipped: %s: %s", type(exc).__name__, exc)
        return None
    if report is not None:
        report.truncated = truncated
    return report


def likely_report(headers: bytes) -> bool:
    """Return whether a message with these *headers* may be a report worth its body.

    For a mailbox of many messages: fetch the headers first, the body only when
    this says yes. It says yes to every message ``parse_report`` could record a
    bounce, DSN or complaint from (a mail system's signs, ``multipart/report``),
    and no to auto-replies and people's mail.
    """
    try:
        message = HeaderParser(policy=compat32).parsestr(
            headers[:MAX_BYTES].decode("utf-8", "replace"), headersonly=True)
        return bounce_signs(message)
    except Exception:  # noqa: BLE001 - unreadable headers: read the whole message then
        return True


def walk(message: Message) -> list[tuple[Message, int]]:
    """Return (part, depth) for the parts of *message*, breadth first, within the limits."""
    found: list[tuple[Message, int]] = []
    queue = [(message, 0)]
    while queue and len(found) < MAX_PARTS:
        part, depth = queue.pop(0)
        found.append((part, depth))
        if depth >= MAX_DEPTH or part.get_content_type() in DSN_TYPES:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            queue.extend((child, depth + 1) for child in payload[:MAX_PARTS]
                         if isinstance(child, Message))
    return found


def _read(message: Message, parts: list[tuple[Message, int]], data: bytes) -> Report | None:
    types = [part.get_content_type() for part, _depth in parts]
    reported_at = header_date(message.get("Date"))
    references = tuple(message_ids(message.get("In-Reply-To"))
                       + message_ids(message.get("References")))
    report: Report | None
    if "message/feedback-report" in types:
        report = _complaint(parts)
    elif DSN_TYPES & set(types):
        report = _dsn(parts)
        if not report.recipients:
            # A status part we could not read: the text may still name the recipients.
            report = _nonstandard(message, parts, data) or report
    elif autoreply_signs(message) and not bounce_signs(message):
        report = Report(kind="autoreply")
    else:
        report = _nonstandard(message, parts, data)
    if report is None:
        return None
    report.reported_at = report.reported_at or reported_at
    report.references = references
    ids = returnedmessage_ids(parts)
    if report.kind in ("bounce", "dsn") and not ids:
        ids = nonstandard.text_ids(parts)
    report.message_ids = tuple(dict.fromkeys(ids))
    report.original_message_id = report.message_ids[0] if report.message_ids else ""
    return report


def _dsn(parts) -> Report:
    """Return the report of the first delivery-status part (RFC 3464 §2, RFC 6533 §6)."""
    for part, _depth in parts:
        if part.get_content_type() not in DSN_TYPES:
            continue
        blocks = status_blocks(part)
        if not blocks:
            continue
        per_message = blocks[0]
        # A block with a recipient field is a recipient's, even the first one: some
        # MTAs put a whitespace line between the blocks, which folds them into one.
        per_recipient = [fields for fields in blocks
                         if "final-recipient" in fields or "original-recipient" in fields]
        arrival = header_date(per_message.get("arrival-date"))
        recipients: dict[tuple[str, str, str], RecipientReport] = {}
        for fields in per_recipient[:MAX_RECIPIENTS]:
            recipient = _recipient(fields, arrival)
            if recipient is not None:
                key = (recipient.address.lower(), recipient.action, recipient.status)
                recipients.setdefault(key, recipient)
        return Report(kind="dsn", envelope_id=xtext(per_message.get("original-envelope-id", "")),
                      recipients=list(recipients.values()), reported_at=arrival)
    return Report(kind="dsn")


def _recipient(fields: dict[str, str], arrival: datetime | None) -> RecipientReport | None:
    address = typed_address(fields.get("original-recipient", ""))
    address = address or typed_address(fields.get("final-recipient", ""))
    if not address:
        return None
    diagnostic = typed_text(fields.get("diagnostic-code", ""))[:MAX_DIAGNOSTIC]
    # The Status field, else the code quoted in the remote server's reply.
    status_match = (STATUS_RE.search(fields.get("status", ""))
                    or STATUS_RE.search(diagnostic))
    status = status_match.group(0) if status_match else ""
    action = _action(fields.get("action", ""), status)
    if action is None:
        return None
    if action == "delayed" and status.startswith("5"):
        status = ""  # RFC 3463: a temporary failure never carries a permanent code
    return RecipientReport(
        address=address, action=action, status=status, diagnostic=diagnostic,
        remote_mta=typed_text(fields.get("remote-mta", ""))[:255],
        reported_at=header_date(fields.get("last-attempt-date")) or arrival,
    )


def _action(value: str, status: str) -> str | None:
    """Return the RFC 3464 action for *value*; a missing one from the status class."""
    word = value.strip().split(" ", 1)[0].lower() if value.strip() else ""
    word = ACTION_ALIASES.get(word, word)
    if word in ACTIONS:
        return word
    if status[:1] == "5":
        return "failed"
    if status[:1] == "4":
        return "delayed"
    if status[:1] == "2":
        return "delivered"
    return None


def _complaint(parts) -> Report:
    """Return an ARF complaint (RFC 5965): the recipient reported our message."""
    recipients: list[RecipientReport] = []
    arrival = None
    for part, _depth in parts:
        if part.get_content_type() != "message/feedback-report":
            continue
        fields = _feedbackfield_dict(part)
        arrival = header_date(fields.get("arrival-date"))
        kind = fields.get("feedback-type", "abuse")
        for value in fields.get("original-rcpt-to", "").split("\n"):
            address = typed_address(value)
            if address:
                recipients.append(RecipientReport(address=address, action="complained",
                                                  diagnostic=kind[:MAX_DIAGNOSTIC]))
        break
    return Report(kind="complaint", recipients=recipients[:MAX_RECIPIENTS], reported_at=arrival)


def _feedbackfield_dict(part: Message) -> dict[str, str]:
    payload = part.get_payload()
    items: list[tuple[str, str]] = []
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                items.extend(block.items())
    else:
        items = HeaderParser(policy=compat32).parsestr(str(payload)).items()
    fields: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        fields[key] = f"{fields[key]}\n{value}" if key in fields else str(value)
    return fields


def _nonstandard(message: Message, parts, data: bytes) -> Report | None:
    """Return a bounce found by flufl.bounce's detectors (addresses only), or None."""
    if not bounce_signs(message):
        # A person's message quoting a bounce is no bounce (every one of the 111
        # real-world bounces in tests/data/bounces comes with these signs).
        return None
    if len(parts) >= MAX_PARTS:
        return None  # no mail system writes a bounce of hundreds of parts
    if len(data) > nonstandard.MAX_SCAN:
        # The detectors' regular expressions cost ~2 s per 512 KB; a bounce names
        # its recipients at the top.
        message = message_from_bytes(data[:nonstandard.MAX_SCAN], policy=compat32)
    recipients = nonstandard.scan(message, parts)
    if not recipients:
        return None
    return Report(kind="bounce", recipients=recipients[:MAX_RECIPIENTS])


def returnedmessage_ids(parts) -> list[str]:
    """Return the Message-IDs in the returned headers or message, in the order found."""
    found: list[str] = []
    for part, _depth in parts:
        content_type = part.get_content_type()
        headers: Message | None = None
        if content_type in MESSAGE_TYPES or content_type == "message/global-headers":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                headers = payload[0]
        elif content_type == "text/rfc822-headers":
            text = part.get_payload(decode=True)
            if isinstance(text, bytes):
                headers = HeaderParser(policy=compat32).parsestr(
                    text[:MAX_BYTES].decode("utf-8", "replace"), headersonly=True)
        if headers is not None:
            for name in ID_HEADERS:
                for value in headers.get_all(name) or ():
                    found.extend(message_ids(value))
    return found


