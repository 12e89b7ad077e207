"""Non-standard non-delivery reports (Exchange, qmail, Exim, Yahoo…) through flufl.bounce.

GNU Mailman's flufl.bounce (Apache-2.0) knows the shapes of many mail systems'
bounces; it returns addresses only, split into temporary and permanent
failures. Here they become ``delayed`` and ``failed`` recipients, each with
the line of the report that names it as the diagnostic, and the enhanced
status code found there.
"""

from __future__ import annotations

from email.message import Message

from flufl.bounce import all_failures

from .fields import MSGID_LINE_RE, part_text
from .types import STATUS_RE, RecipientReport, plain_address

# Bytes of a report given to flufl.bounce; characters of text looked at, and per diagnostic.
MAX_SCAN = 64 * 1024
MAX_TEXT = 200_000
MAX_LINE = 500


def scan(message: Message, parts) -> list:
    """Return RecipientReports for the addresses flufl.bounce finds in *message*."""
    temporary, permanent = all_failures(message)
    text = "\n".join(part_text(part) for part, _depth in parts
                     if part.get_content_maintype() == "text")[:MAX_TEXT]
    recipients = []
    for action, addresses in (("failed", permanent), ("delayed", temporary - permanent)):
        for raw in sorted(addresses):
            address = _address(raw)
            if not address:
                continue
            diagnostic = line_about(text, address)
            status = STATUS_RE.search(diagnostic)
            code = status.group(0) if status else ""
            if action == "delayed" and code.startswith("5"):
                code = ""  # RFC 3463: a temporary failure never carries a permanent code
            recipients.append(RecipientReport(address=address, action=action, status=code,
                                              diagnostic=diagnostic))
    return recipients


def line_about(text: str, address: str) -> str:
    """Return the line of *text* naming *address* (with the next one when it is short)."""
    index = text.lower().find(address.lower())
    if index < 0:
        return ""
    start = text.rfind("\n", 0, index) + 1
    lines = text[start:start + 2 * MAX_LINE].splitlines()
    line = lines[0].strip() if lines else ""
    if len(lines) > 1 and len(line) < 120 and lines[1].strip():
        line = f"{line} {lines[1].strip()}"
    return line[:MAX_LINE]


def text_ids(parts) -> list[str]:
    """Return Message-IDs quoted as header lines in the report's text (returned inline)."""
    found: list[str] = []
    for part, depth in parts:
        if depth == 0 and part.is_multipart():
            continue
        if part.get_content_maintype() != "text":
            continue
        for match in MSGID_LINE_RE.finditer(part_text(part)[:MAX_TEXT]):
            found.append(match.group(1))
    return found


def _address(raw) -> str:
    return plain_address(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))
