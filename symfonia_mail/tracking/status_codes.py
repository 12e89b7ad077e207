"""Enhanced status codes (RFC 3463) in servers' replies, and what each means in plain words."""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _

# class.subject.detail, e.g. 5.1.1; RFC 3463 §2.
STATUS_RE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")

# The codes people meet most, in words an office understands; then by subject (x.N.*).
HINTS = {
    "5.1.1": _("The address does not exist: check it with the recipient."),
    "5.1.2": _("The recipient's domain does not exist or takes no mail: check the address."),
    "5.1.10": _("The recipient's domain takes no mail (null MX): check the address."),
    "5.2.1": _("The mailbox is disabled or no longer takes mail."),
    "5.2.2": _("The recipient's mailbox is full."),
    "4.2.2": _("The recipient's mailbox is full; the server keeps trying."),
    "5.2.3": _("The message is larger than the recipient's server accepts."),
    "5.3.4": _("The message is larger than the recipient's server accepts."),
    "4.4.7": _("Still trying: the recipient's server has not taken the message yet."),
    "5.4.7": _("Delivery took too long and was given up."),
    "4.4.1": _("The recipient's server does not answer; still trying."),
    "5.4.4": _("The recipient's domain has no mail server."),
    "5.7.1": _("Refused by the recipient's policy (spam filter, blocked sender or "
               "recipient)."),
    "5.7.26": _("Refused: the sender's domain is not authenticated (SPF, DKIM, DMARC)."),
    "5.7.23": _("Refused: the sender's server is not allowed by the domain's SPF record."),
    "4.7.0": _("Temporarily refused by the recipient's policy (e.g. greylisting); "
               "still trying."),
}
SUBJECT_HINTS = {
    "1": _("A problem with the address."),
    "2": _("A problem with the recipient's mailbox."),
    "3": _("A problem with the recipient's mail system."),
    "4": _("A network or routing problem."),
    "5": _("A problem in the mail transfer."),
    "6": _("A problem with the message's content."),
    "7": _("Refused by a security or policy rule."),
}


def status_code(text: str) -> str:
    """Return the first enhanced status code in *text*, or ""."""
    match = STATUS_RE.search(text or "")
    return match.group(0) if match else ""


def hint(code: str) -> str:
    """Return what *code* means in plain words, or "" for no code."""
    if not code:
        return ""
    if code in HINTS:
        return str(HINTS[code])
    parts = code.split(".")
    if len(parts) != 3:
        return ""
    subject = SUBJECT_HINTS.get(parts[1])
    if subject is None:
        return ""
    prefix = _("Temporary:") if parts[0] == "4" else _("Permanent:") if parts[0] == "5" else ""
    return f"{prefix} {subject}".strip()
