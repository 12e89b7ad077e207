"""Read a delivery report: RFC 3464/6533 DSNs, other bounces, auto-replies, ARF complaints.

Pure: bytes in, a :class:`Report` (or ``None``) out; no database. The work is
bounded whatever arrives: the input is cut at ``MAX_BYTES``, at most
``MAX_PARTS`` parts are looked at, ``MAX_DEPTH`` levels deep, and any parser
error gives ``None`` or what was read so far — never a bounce guessed from a
broken message.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from . import nonstandard
from .types import STATUS_RE, RecipientReport, Report, plain_address

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
HEADER_TYPES = {"text/rfc822-headers", "message/global-headers"}
MESSAGE_TYPES = {"message/rfc822", "message/global"}
# Headers of a returned message that name the message we sent.
ID_HEADERS = ("Message-ID", "X-Microsoft-Original-Message-ID", "X-Original-Message-ID")

ACTIONS = ("delivered", "relayed", "expanded", "delayed", "failed")
# Non-standard Action values seen in the wild (RFC 1891 drafts, old Exchange).
ACTION_ALIASES = {"failure": "failed", "error": "failed", "delay": "delayed",
                  "deliver": "delivered", "relay": "relayed", "expand": "expanded"}

MSGID_RE = re.compile(r"<[^<>\s]{1,500}>")
XTEXT_RE = re.compile(r"\+([0-9A-Fa-f]{2})")


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
    reported_at = _date(message.get("Date"))
    references = tuple(_ids(message.get("In-Reply-To")) + _ids(message.get("References")))
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
    ids = returned_ids(parts)
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
        arrival = _date(per_message.get("arrival-date"))
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
    address = _typed_address(fields.get("original-recipient", ""))
    address = address or _typed_address(fields.get("final-recipient", ""))
    if not address:
        return None
    diagnostic = _typed_text(fields.get("diagnostic-code", ""))[:MAX_DIAGNOSTIC]
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
        remote_mta=_typed_text(fields.get("remote-mta", ""))[:255],
        reported_at=_date(fields.get("last-attempt-date")) or arrival,
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
        fields = _feedback_fields(part)
        arrival = _date(fields.get("arrival-date"))
        kind = fields.get("feedback-type", "abuse")
        for value in fields.get("original-rcpt-to", "").split("\n"):
            address = _typed_address(value)
            if address:
                recipients.append(RecipientReport(address=address, action="complained",
                                                  diagnostic=kind[:MAX_DIAGNOSTIC]))
        break
    return Report(kind="complaint", recipients=recipients[:MAX_RECIPIENTS], reported_at=arrival)


def _feedback_fields(part: Message) -> dict[str, str]:
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


def status_blocks(part: Message) -> list[dict[str, str]]:
    """Return the field blocks of a delivery-status part, names lower-cased."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list):
        for index, block in enumerate(payload):
            if not isinstance(block, Message):
                continue
            blocks.append(_fields(block.items()))
            if part.get_content_type() == "message/global-delivery-status" and index == 0:
                # RFC 6533: parsed as a nested message; the other blocks are its body.
                # The bytes, not the text: get_payload() would replace UTF-8 with "?".
                body = block.get_payload(decode=True)
                if isinstance(body, bytes):
                    blocks.extend(_text_blocks(body.decode("utf-8", "replace")))
    elif isinstance(payload, str):
        text = payload
        if part.get("Content-Transfer-Encoding", "").lower() in ("base64", "quoted-printable"):
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else text
        blocks = _text_blocks(text)
    return blocks


def _text_blocks(text: str) -> list[dict[str, str]]:
    parser = HeaderParser(policy=compat32)
    return [_fields(parser.parsestr(chunk.strip("\r\n") + "\n").items())
            for chunk in re.split(r"\r?\n\s*\r?\n", text[:MAX_BYTES]) if chunk.strip()]


def _fields(items) -> dict[str, str]:
    return {str(name).lower(): _unfold(value) for name, value in items}


def returned_ids(parts) -> list[str]:
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
                    found.extend(_ids(value))
    return found


def autoreply_signs(message: Message) -> bool:
    """Return whether *message* says it is an automatic reply (RFC 3834, vendors' headers)."""
    submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if submitted and not submitted.startswith("no"):
        return True
    if any(message.get(name) for name in ("X-Autoreply", "X-Autorespond", "X-Vacation")):
        return True
    if str(message.get("X-Autogenerated", "")).strip().lower() == "reply":
        return True
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in ("auto_reply", "autoreply"):
        return True
    return bool(nonstandard.AUTOREPLY_SUBJECT_RE.search(_text(message.get("Subject"))))


def bounce_signs(message: Message) -> bool:
    """Return whether *message* comes from a mail system, as non-delivery reports do."""
    if message.get_content_type() == "multipart/report" or message.get("X-Failed-Recipients"):
        return True
    if str(message.get("Return-Path", "")).strip() == "<>":
        return True
    for _name, address in getaddresses([_text(message.get("From"))]):
        if nonstandard.DAEMON_RE.match(address.split("@", 1)[0]):
            return True
    return bool(nonstandard.BOUNCE_SUBJECT_RE.search(_text(message.get("Subject"))))


def _typed_address(value: str) -> str:
    """Return the address of an RFC 3464 ``type; address`` field (rfc822 or utf-8)."""
    value = _unfold(value)
    kind, _sep, address = value.partition(";")
    if not _sep:
        address, kind = kind, "rfc822"
    if kind.strip().lower() not in ("rfc822", "utf-8", "utf8"):
        return ""
    return plain_address(xtext(address))


def _typed_text(value: str) -> str:
    """Return the text of a ``type; text`` field (Diagnostic-Code, Remote-MTA)."""
    value = _unfold(value)
    kind, sep, text = value.partition(";")
    return (text if sep and " " not in kind.strip() else value).strip()


def xtext(value: str) -> str:
    """Return *value* with RFC 3461 xtext escapes (``+2B``) decoded."""
    return XTEXT_RE.sub(lambda match: chr(int(match.group(1), 16)), str(value)).strip()


def _unfold(value) -> str:
    return re.sub(r"\r?\n[ \t]+", " ", utf8(str(value or ""))).strip()


def utf8(text: str) -> str:
    """Return *text* with raw 8-bit bytes read as UTF-8 (RFC 6532/6533 headers)."""
    # The email package keeps undecodable header bytes as surrogate escapes.
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return text


def _text(value) -> str:
    """Return a header as text, RFC 2047 words decoded; bad encodings replaced."""
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError):  # an unknown charset, a broken word
        return str(value)


def _ids(value) -> list[str]:
    return MSGID_RE.findall(str(value or ""))[:50]


def _date(value) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(_unfold(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else None
