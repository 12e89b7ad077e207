"""Text of a report's parts, decoded whatever the declared charset, within a size limit."""

from __future__ import annotations

import re
from email.message import Message

# "Message-ID: <…>" (and Microsoft's copies of it) quoted in a report's text.
MSGID_LINE_RE = re.compile(
    r"(?im)^\s*(?:X-Microsoft-Original-Message-ID|X-Original-Message-ID|Message-ID)"
    r"\s*:\s*(<[^<>\s]{1,500}>)")
MAX_PART = 256 * 1024


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
