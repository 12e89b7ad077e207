"""Messages per minute per configuration: one budget for workers and synchronous sends."""

from datetime import timedelta

import pytest
from django.core.mail import send_mail
from django.utils import timezone

from symfonia_mail import ratelimit
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


def test_the_limit_waits_for_the_next_minute(clock):
    assert ratelimit.acquire("global", 2) == 0
    assert ratelimit.acquire("global", 2) == 0
    waited = ratelimit.acquire("global", 2)
    assert 40 <= waited <= 40.1  # from hh:mm:20 to the next minute
    assert clock.moment.second == 0
    assert list(SendRateWindow.objects.values_list("count", flat=True)) == [1]  # old minute gone


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
    assert len(clock.slept) == 1 and 40 <= clock.slept[0] <= 40.1
    assert MailLog.objects.filter(status="sent").count() == 3

