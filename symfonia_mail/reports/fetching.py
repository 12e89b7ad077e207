"""Read delivery reports from the mailboxes of the configurations: the command and the workers.

``fetch_all()`` reads every configuration with an IMAP server (or one, by
key); with ``BACKGROUND`` the workers call it every ``REPORTS_INTERVAL``
seconds from their once-a-minute sweep (the ``housekeeping`` signal). The
sweep runs only while workers have tasks, so whoever reads a folder also
queues the next reading (a Tasks backend that can defer): reports are read
on a quiet site too, and of several such tasks only the one that wins the
folder's claim queues another.
"""

import logging
import time
from datetime import timedelta

from django.db.models import Min, Q
from django.dispatch import receiver
from django.utils import timezone

from .. import conf
from ..background import taskq
from ..background.delivery import housekeeping
from ..config import resolver
from ..exceptions import SymfoniaMailError
from ..mailbox.fetch import FetchResult, cursor_for, fetch_reports, first_reading_since
from ..models import GlobalMailConfig, MailLog, ReportCursor, Scope, UserMailConfig
from .parse import likely_report, parse_report
from .record import apply_parsed

logger = logging.getLogger("symfonia_mail")
_last_fetch = None  # time.monotonic() of this process's last fetch


def apply(data):
    """Record the report in *data*: None when it is no report, else whether it was ours."""
    report = parse_report(data)
    if report is None:
        return None
    return apply_parsed(report) is not None


def configurations(key=None):
    """Return the ResolvedConfigs with an IMAP server (only *key*'s when given)."""
    found = []
    global_row = GlobalMailConfig.get_solo()
    global_config = resolver.from_model(global_row)
    if key in (None, "global") and global_row.imap_host:
        found.append(global_config)
    if key == "global":
        return found
    rows = UserMailConfig.objects.exclude(imap_host="").filter(
        scope=Scope.INDIVIDUAL).select_related("user").order_by("user_id")
    if key is not None:
        rows = rows.filter(user_id=int(key.partition(":")[2]))
    found.extend(resolver.from_model(row, company_name=global_config.company_name)
                 for row in rows)
    return found


def claim(config, interval):
    """Return whether this process may read *config*'s folder now (not read for *interval* s)."""
    now = timezone.now()
    cursor = cursor_for(config, config.reports_folder or "INBOX")
    stale = Q(checked_at__isnull=True) | Q(checked_at__lt=now - timedelta(seconds=interval))
    # One conditional UPDATE: of all the workers whose timer fired, one reads the folder.
    return bool(ReportCursor.objects.filter(stale, pk=cursor.pk).update(checked_at=now))


def fetch_all(key=None, *, batch=None, due_after=None):
    """Read the reports folders; return a FetchResult per configuration (errors logged).

    *due_after* (seconds): skip a folder read by anyone (another worker) more
    recently than that.
    """
    oldest = MailLog.objects.aggregate(oldest=Min("created_at"))["oldest"]
    since = first_reading_since(oldest)
    results = []
    for config in configurations(key):
        if due_after is not None and not claim(config, due_after):
            continue
        try:
            result = fetch_reports(config, apply, likely=likely_report, batch=batch,
                                    since=since)
        except SymfoniaMailError as error:
            logger.warning("Delivery reports of %s not read: %s", config.label, error)
            result = FetchResult(config.key, config.reports_folder, error=str(error))
        results.append(result)
    return results


@receiver(housekeeping, dispatch_uid="symfonia_mail.reports.fetching")
def fetch_if_due(**kwargs):
    """Read the reports folders at most every REPORTS_INTERVAL seconds per worker process."""
    global _last_fetch
    interval = conf.get("REPORTS_INTERVAL")
    if not conf.get("BACKGROUND") or (
            _last_fetch is not None and time.monotonic() - _last_fetch < interval):
        return
    _last_fetch = time.monotonic()
    try:
        fetch_and_continue()
    except Exception as error:  # noqa: BLE001 - the sweep runs before a send: never fail it
        logger.warning("Delivery reports not read: %s", type(error).__name__)


def fetch_and_continue():
    """Read the folders that are due; queue the next reading when this process read one."""
    interval = conf.get("REPORTS_INTERVAL")
    if fetch_all(due_after=interval) and taskq.can_defer():
        taskq.enqueue(fetch_reports_task,
                      run_after=timezone.now() + timedelta(seconds=interval))


def fetch_reports_task():
    """Read the delivery reports that are due (the Tasks framework's entry point)."""
    if conf.get("BACKGROUND"):
        fetch_and_continue()


# A worker finds a task by its function's module and name: bind the Task to that name.
fetch_reports_task = taskq.define(fetch_reports_task)
