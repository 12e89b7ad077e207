"""Read new messages of a reports folder over IMAP and hand the likely reports on.

Per configuration and folder a :class:`~symfonia_mail.models.ReportCursor`
keeps the folder's UIDVALIDITY and the last UID looked at. A run looks only
at UIDs above it, at most ``REPORTS_BATCH``, oldest first: first their
headers (a few hundred bytes each), then the whole message only when the
headers look like a report. Nothing is deleted, moved or copied; messages
are read with ``BODY.PEEK`` (``\\Seen`` stays as it was); a processed report
gets the keyword ``$SymfoniaReport``.

Two runs at once may read the same messages: the caller's ``apply`` records
each event once, and the cursor only ever moves forward.
"""

import dataclasses
from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from .. import conf
from ..exceptions import SymfoniaMailError
from ..models import ReportCursor
from .imap import ImapSession

KEYWORD = "$SymfoniaReport"
# What tells a report from other mail by its headers (reports.likely_report reads them).
HEADER_FIELDS = "FROM SUBJECT CONTENT-TYPE X-FAILED-RECIPIENTS RETURN-PATH"
HEADER_GROUP = 500  # messages whose headers one FETCH asks for
BODY_GROUP = 20  # messages fetched per FETCH of whole messages
MAX_REPORT_BYTES = 2 * 1024 * 1024  # a longer message is read up to here (enough for a report)

@dataclasses.dataclass
class FetchResult:
    """What one run did in one folder."""

    config_key: str
    folder: str
    looked: int = 0  # new messages whose headers were read
    downloaded: int = 0  # whole messages read
    reports: int = 0  # recognised as reports
    matched: int = 0  # about a message of ours
    error: str = ""


def cursor_for(config, folder):
    """Return the ReportCursor of *config*'s *folder* (created at zero)."""
    cursor, _created = ReportCursor.objects.get_or_create(
        config_key=config.key, server=config.imap_server, folder=folder)
    return cursor


def fetch_reports(config, apply, *, likely, batch=None, since=None):
    """Read new messages of *config*'s reports folder; return a FetchResult.

    *likely(headers)* says from a message's header lines (HEADER_FIELDS)
    whether it may be a report; *apply(data)* gets each likely report's bytes
    and returns None (not a report) or whether it matched a message of ours. *since* (a date) skips
    older messages on a folder's first reading: no report in them can be
    about a message in the log. Errors end the run: recorded on the cursor,
    and raised.
    """
    folder = config.reports_folder or "INBOX"
    result = FetchResult(config.key, folder)
    cursor = cursor_for(config, folder)
    try:
        with ImapSession(config) as session:
            _read(session, cursor, result, apply, likely, batch or conf.get("REPORTS_BATCH"),
                  since)
    except SymfoniaMailError as error:  # IMAP, OAuth2, ALLOWED_SERVERS, unreadable password
        result.error = str(error)
        ReportCursor.objects.filter(pk=cursor.pk).update(
            checked_at=timezone.now(), error=result.error[:2000])
        raise
    return result


def _read(session, cursor, result, apply, likely, batch, since):
    uidvalidity, _count = session.select(result.folder)
    last = cursor.last_uid
    if cursor.uidvalidity != uidvalidity:
        # RFC 3501 §2.3.1.1: the UIDs started over (the folder was recreated). Read it
        # again: reports read before carry the keyword, and applying one twice is harmless.
        ReportCursor.objects.filter(pk=cursor.pk, uidvalidity=cursor.uidvalidity).update(
            uidvalidity=uidvalidity, last_uid=0)
        last = 0
    uids = session.search_above(last, since if last == 0 else None)[:batch]
    candidates = []
    for start in range(0, len(uids), HEADER_GROUP):
        headers = session.fetch(uids[start:start + HEADER_GROUP],
                                f"FLAGS BODY.PEEK[HEADER.FIELDS ({HEADER_FIELDS})]")
        result.looked += len(headers)
        candidates.extend(uid for uid, flags, data in headers
                      if KEYWORD.lower() not in (f.lower() for f in flags)
                      and likely(data))
    keep_keyword = session.permanent_keywords()
    for start in range(0, len(candidates), BODY_GROUP):
        processed = []
        group = candidates[start:start + BODY_GROUP]
        for uid, _flags, data in session.fetch(group, f"BODY.PEEK[]<0.{MAX_REPORT_BYTES}>"):
            result.downloaded += 1
            matched = apply(data)
            if matched is None:
                continue
            processed.append(uid)
            result.reports += 1
            result.matched += bool(matched)
        if keep_keyword:
            session.add_keyword(processed, KEYWORD)
    newest = uids[-1] if uids else last
    # Only forward, and only under the same UIDVALIDITY: a slower run at once never
    # moves the cursor back, and a run that saw the old numbering never writes them.
    ReportCursor.objects.filter(pk=cursor.pk, uidvalidity=uidvalidity,
                                last_uid__lt=newest).update(last_uid=newest)
    ReportCursor.objects.filter(pk=cursor.pk).update(
        reports=F("reports") + result.reports,
        unmatched=F("unmatched") + result.reports - result.matched,
        checked_at=timezone.now(), error="")


def first_reading_since(oldest_sent):
    """Return the date before which no report can be about a message sent at *oldest_sent*."""
    when = oldest_sent or timezone.now()
    return (when - timedelta(days=1)).date()
