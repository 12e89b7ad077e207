"""The results of reading a delivery report: a Report and its RecipientReports."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from ..tracking.status_codes import STATUS_RE

__all__ = ["STATUS_RE", "RecipientReport", "Report", "plain_address"]


@dataclasses.dataclass(frozen=True)
class RecipientReport:
    """What a report says about one recipient."""

    address: str
    action: str
    status: str = ""
    diagnostic: str = ""
    remote_mta: str = ""
    reported_at: datetime | None = None


@dataclasses.dataclass
class Report:
    """A delivery report: its kind, the ids that name our message, and each recipient.

    ``kind``: ``dsn``, ``bounce``, ``autoreply`` or ``complaint``.
    ``original_message_id`` is the first Message-ID found in the returned headers;
    ``message_ids`` all of them (``X-Microsoft-Original-Message-ID`` …);
    ``references`` the report's own ``In-Reply-To`` and ``References`` (matching only).
    """

    kind: str
    envelope_id: str = ""
    original_message_id: str = ""
    message_ids: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    recipients: list[RecipientReport] = dataclasses.field(default_factory=list)
    reported_at: datetime | None = None
    truncated: bool = False


def plain_address(value: str) -> str:
    """Return *value* as a bare address, or "" when it cannot be one (``a...@b``, spaces)."""
    address = value.strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if (not at or not local or not domain or ".." in address or len(address) > 320
            or any(c.isspace() or c in "<>," for c in address)):
        return ""
    return address
