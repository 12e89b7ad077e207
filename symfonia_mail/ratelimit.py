"""Messages per minute per configuration, shared by every process through the database.

A fixed one-minute window per configuration: one row counts the messages
sent in it, and a message may go when a conditional UPDATE (``count < limit``)
changes that row. The UPDATE is atomic on SQLite and PostgreSQL alike, so
workers and synchronous senders on any machine share one budget. When the
minute is used up the caller waits for the next one.
"""

import time
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import SendRateWindow

MAX_WAIT_ROUNDS = 1000  # a bound on the loop; each round is at most one minute


class Clock:
    """The time source of the limiter (tests replace it to wait without waiting)."""

    now = staticmethod(timezone.now)
    sleep = staticmethod(time.sleep)


def acquire(key, limit, *, clock=Clock):
    """Wait until configuration *key* may send one more message; return the seconds waited."""
    waited = 0.0
    now, sleep = clock.now, clock.sleep
    for _round in range(MAX_WAIT_ROUNDS):
        moment = now()
        window = moment.replace(second=0, microsecond=0)
        if _take(key, window, limit):
            return waited
        pause = (window + timedelta(minutes=1) - moment).total_seconds() + 0.01
        sleep(pause)
        waited += pause
    raise TimeoutError(f"Rate limit of {key}: no free slot after {MAX_WAIT_ROUNDS} minutes.")


def _take(key, window, limit):
    rows = SendRateWindow.objects.filter(config_key=key, window_start=window)
    if rows.filter(count__lt=limit).update(count=F("count") + 1):
        return True
    if rows.exists():
        return False
    try:
        with transaction.atomic():
            SendRateWindow.objects.create(config_key=key, window_start=window, count=1)
        # The first message of a minute clears the finished minutes (a handful of rows).
        SendRateWindow.objects.filter(config_key=key, window_start__lt=window).delete()
        return True
    except IntegrityError:  # another process opened this minute first
        return bool(rows.filter(count__lt=limit).update(count=F("count") + 1))
