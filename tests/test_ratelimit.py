"""Messages per minute per configuration: one budget for workers and synchronous sends."""

from datetime import timedelta

import pytest
from django.core.mail import send_mail
from django.utils import timezone

from symfonia_mail.background import ratelimit
from symfonia_mail.models import GlobalMailConfig, MailLog, SendRateWindow

from .conftest import config_values

pytestmark = pytest.mark.django_db


class FakeClock:
    """A clock whose sleep moves time forward instead of waiting."""

    def __init__(self, start):
        self.moment = start
        self.slept = []

    def now(self):
        return self.moment

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.moment += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    start = timezone.now().replace(second=20, microsecond=0)
    fake = FakeClock(start)
    monkeypatch.setattr(ratelimit.Clock, "now", fake.now)
    monkeypatch.setattr(ratelimit.Clock, "sleep", fake.sleep)
    return fake


def buckets():
    return list(SendRateWindow.objects.filter(window_start__gt=ratelimit._anchor())
                .values_list("count", flat=True))


def test_the_limit_waits_until_the_oldest_message_leaves_the_minute(clock):
    assert ratelimit.acquire("global", 2) == 0
    clock.sleep(10)
    assert ratelimit.acquire("global", 2) == 0
    clock.slept.clear()
    waited = ratelimit.acquire("global", 2)
    assert 50 <= waited <= 50.1  # at hh:mm:30, the message of hh:mm:20 leaves at hh:mm+1:20
    assert clock.moment.second == 20
    assert buckets() == [1, 1]  # hh:mm:30 and now; hh:mm:20 is gone


def test_no_minute_holds_more_than_the_limit_across_a_calendar_boundary(clock):
    # A burst at hh:mm:59 and another at hh:mm+1:00 would be 2 x the limit in two
    # seconds with calendar minutes: Microsoft 365 refuses that.
    clock.moment = clock.moment.replace(second=59)
    assert [ratelimit.acquire("global", 3) for _ in range(3)] == [0, 0, 0]
    clock.sleep(1)  # hh:mm+1:00
    clock.slept.clear()
    assert ratelimit.acquire("global", 3) >= 59
    assert clock.moment.second == 59  # one minute after the burst


def test_configurations_have_their_own_budgets(clock):
    assert ratelimit.acquire("global", 1) == 0
    assert ratelimit.acquire("user:7", 1) == 0
    assert clock.slept == []


def test_synchronous_sends_share_the_budget_and_wait(smtp_server, clock):
    config = GlobalMailConfig.get_solo()
    for name, value in config_values(smtp_server, rate_limit_per_minute=2).items():
        setattr(config, name, value)
    config.save()
    for number in range(3):
        send_mail(f"s{number}", "b", None, ["client@example.com"])
    assert len(smtp_server.messages) == 3
    assert len(clock.slept) == 1 and 60 <= clock.slept[0] <= 60.1  # a minute after the first
    assert MailLog.objects.filter(status="sent").count() == 3

