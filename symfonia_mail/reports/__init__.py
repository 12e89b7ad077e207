"""Delivery reports: read DSNs, bounces, auto-replies and complaints; record them per recipient.

``parse_report(data)`` reads one message (pure, no database); ``apply_report(data)``
also finds the ``MailLog`` row it is about and records a ``DeliveryEvent`` per
recipient (DESIGN.md §11); ``apply_parsed(report)`` does the same for a report already
parsed (a caller that counts reports that match nothing); ``likely_report(headers)`` tells
from the headers alone whether the body is worth fetching.
"""

from .parse import likely_report, parse_report
from .record import apply_parsed, apply_report
from .types import RecipientReport, Report

__all__ = [
    "RecipientReport", "Report", "apply_parsed", "apply_report", "likely_report", "parse_report",
]
