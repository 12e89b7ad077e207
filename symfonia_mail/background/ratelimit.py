"""Messages per minute per configuration, shared by every process through the database.

A sliding minute: no 60 seconds hold more messages than the limit. (A calendar
minute would let twice the limit through around its boundary — a burst at
12:00:59 and another at 12:01:00 — and Microsoft 365 counts the last minute.)
Messages are counted in one-second buckets, ``SendRateWindow`` rows. Taking a
slot is a short transaction that first updates the configuration's anchor
row, which makes the senders of one configuration take turns on SQLite and
PostgreSQL alike; then it sums the buckets of the last minute and, when there
is room, counts the message. When there is none, the caller waits until the
oldest counted second leaves the minute.
"""

import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from ..models import SendRateWindow

MAX_WAIT_ROUNDS = 1000  # a bound on the loop; each round waits at most one minute
WINDOW = timedelta(minutes=1)


class Clock:
    """The time source of the limiter (tests replace it to wait without waiting)."""

    now = staticmethod(timezone.now)
    sleep = staticmethod(time.sleep)


def acquire(key, limit, *, clock=Clock):
    """Wait until configuration *key* may send one more message; return the seconds waited."""
    waited = 0.0
    for _round in range(MAX_WAIT_ROUNDS):
        moment = clock.now()
        free_at = _take(key, limit, moment)
        if free_at is None:
            return waited
        pause = max((free_at - moment).total_seconds(), 0.0) + 0.01
        clock.sleep(pause)
        waited += pause
    raise TimeoutError(f"Rate limit of {key}: no free slot after {MAX_WAIT_ROUNDS} rounds.")


def _take(key, limit, moment):
    """Count one message at *moment* and return None, or return when a slot frees up."""
    second = moment.replace(microsecond=0)
    start = second - WINDOW  # buckets after this one are inside the minute
    buckets = SendRateWindow.objects.filter(config_key=key, window_start__gt=start)
    with transaction.atomic():
        _take_turn(key)
        used = buckets.aggregate(total=Sum("count"))["total"] or 0
        if used >= limit:
            return _free_at(buckets, used - limit + 1)
        if not buckets.filter(window_start=second).update(count=F("count") + 1):
            SendRateWindow.objects.create(config_key=key, window_start=second, count=1)
            # A new second clears the seconds that left the minute (a handful of rows).
            SendRateWindow.objects.filter(
                config_key=key, window_start__gt=_anchor(), window_start__lte=start).delete()
    return None


def _anchor():
    """Return the time of the row every sender of a configuration updates first: never a bucket."""
    return datetime(2000, 1, 1, tzinfo=UTC if settings.USE_TZ else None)


def _take_turn(key):
    """Lock the anchor row of *key* until the transaction ends (created on first use)."""
    anchor = SendRateWindow.objects.filter(config_key=key, window_start=_anchor())
    # An UPDATE that changes nothing still locks the row (and SQLite's database).
    if anchor.update(count=F("count")):
        return
    try:
        with transaction.atomic():
            SendRateWindow.objects.create(config_key=key, window_start=_anchor(), count=0)
    except IntegrityError:  # another sender created it first
        anchor.update(count=F("count"))


def _free_at(buckets, excess):
    """Return when *excess* messages of the last minute will have left it."""
    rows = list(buckets.order_by("window_start").values_list("window_start", "count"))
    for second, count in rows:
        excess -= count
        if excess <= 0:
            return second + WINDOW
    return rows[-1][0] + WINDOW  # not reached: the buckets hold at least the excess
