"""Field values of reports: typed addresses, xtext, dates, Message-IDs, status blocks, text."""

from __future__ import annotations

import re
from datetime import datetime
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime

from .types import plain_address

# Bytes of one part read as text.
MAX_PART = 256 * 1024
MSGID_RE = re.compile(r"<[^<>\s]{1,500}>")
XTEXT_RE = re.compile(r"\+([0-9A-Fa-f]{2})")
# "Message-ID: <…>" (and Microsoft's copies of it) quoted in a report's text.
MSGID_LINE_RE = re.compile(
    r"(?im)^\s*(?:X-Microsoft-Original-Message-ID|X-Original-Message-ID|Message-ID)"
    r"\s*:\s*(<[^<>\s]{1,500}>)")


def status_blocks(part: Message) -> list[dict[str, str]]:
    """Return the field blocks of a delivery-status part, names lower-cased."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list):
        for index, block in enumerate(payload):
            if not isinstance(block, Message):
                continue
            blocks.append(field_dict(block.items()))
            if part.get_content_type() == "message/global-delivery-status" and index == 0:
                # RFC 6533: parsed as a nested message; the other blocks are its body.
                # The bytes, not the text: get_payload() would replace UTF-8 with "?".
                body = block.get_payload(decode=True)
                if isinstance(body, bytes):
                    blocks.extend(text_blocks(body.decode("utf-8", "replace")))
    elif isinstance(payload, str):
        text = payload
        if part.get("Content-Transfer-Encoding", "").lower() in ("base64", "quoted-printable"):
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else text
        blocks = text_blocks(text)
    return blocks


def text_blocks(text: str) -> list[dict[str, str]]:
    """Return the field blocks (separated by blank lines) of *text*."""
    parser = HeaderParser(policy=compat32)
    return [field_dict(parser.parsestr(chunk.strip("\r\n") + "\n").items())
            for chunk in re.split(r"\r?\n\s*\r?\n", text[:MAX_PART]) if chunk.strip()]


def field_dict(items) -> dict[str, str]:
    """Return header *items* as a dict, names lower-cased, values unfolded."""
    return {str(name).lower(): unfold(value) for name, value in items}


def typed_address(value: str) -> str:
    """Return the address of an RFC 3464 ``type; address`` field (rfc822 or utf-8)."""
    value = unfold(value)
    kind, _sep, address = value.partition(";")
    if not _sep:
        address, kind = kind, "rfc822"
    if kind.strip().lower() not in ("rfc822", "utf-8", "utf8"):
        return ""
    return plain_address(xtext(address))


def typed_text(value: str) -> str:
    """Return the text of a ``type; text`` field (Diagnostic-Code, Remote-MTA)."""
    value = unfold(value)
    kind, sep, text = value.partition(";")
    return (text if sep and " " not in kind.strip() else value).strip()


def xtext(value: str) -> str:
    """Return *value* with RFC 3461 xtext escapes (``+2B``) decoded."""
    return XTEXT_RE.sub(lambda match: chr(int(match.group(1), 16)), str(value)).strip()


def unfold(value) -> str:
    """Return a field value on one line, 8-bit bytes read as UTF-8."""
    return re.sub(r"\r?\n[ \t]+", " ", utf8(str(value or ""))).strip()


def utf8(text: str) -> str:
    """Return *text* with raw 8-bit bytes read as UTF-8 (RFC 6532/6533 headers)."""
    # The email package keeps undecodable header bytes as surrogate escapes.
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return text


def header_text(value) -> str:
    """Return a header as text, RFC 2047 words decoded; bad encodings replaced."""
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError):  # an unknown charset, a broken word
        return str(value)


def message_ids(value) -> list[str]:
    """Return the ``<…>`` Message-IDs in a header value (at most 50)."""
    return MSGID_RE.findall(str(value or ""))[:50]


def header_date(value) -> datetime | None:
    """Return an RFC 5322 date with its zone, or None when it is missing or unreadable."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(unfold(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else None


def part_text(part: Message) -> str:
    """Return the decoded text of a non-multipart *part* (bad bytes replaced)."""
    if part.is_multipart():
        return ""
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return ""
    raw = raw[:MAX_PART]
    charset = part.get_content_charset() or "utf-8"
    try:
        return raw.decode(charset, "replace")
    except LookupError:  # an unknown charset name
        return raw.decode("utf-8", "replace")
