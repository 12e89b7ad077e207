"""Scale: bounded SMTP connections, one query per chunk, flat memory (separate processes).

Each test runs tests/send_child.py in its own process (a soft limit of 1,024
open files, its own SQLite file) against a counting aiosmtpd server here,
which sees how many connections are open at once.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.mail import EmailMessage, get_connection

from symfonia_mail.models import GlobalMailConfig, MailLog, UserMailConfig

from .conftest import config_values
from .smtpd import CountingServer

CHILD = Path(__file__).with_name("send_child.py")


@pytest.fixture
def counting_server():
    server = CountingServer()
    yield server
    server.stop()


def run_child(mode, tmp_path, server, count, timeout=240):
    done = subprocess.run(
        [sys.executable, str(CHILD), mode, str(tmp_path / "child.sqlite3"), str(server.port),
         str(count)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_1124_users_in_one_call_under_1024_open_files(tmp_path, counting_server):
    result = run_child("users", tmp_path, counting_server, 1124)
    assert result["sent"] == 1124 and result["logged"] == 1124
    assert counting_server.handler.messages == 1124
    assert counting_server.handler.connections == 1124  # one per configuration
    assert counting_server.handler.peak_open <= 8  # MAX_CONNECTIONS' default
    assert 1 <= result["peak_sockets"] <= 8  # counted in the sending process itself
    assert result["config_queries"] == 3  # one per chunk of 500 messages


def test_10000_messages_from_a_generator_in_flat_memory(tmp_path, counting_server):
    result = run_child("memory", tmp_path, counting_server, 10_000)
    assert result["sent"] == 10_000 and result["logged"] == 11_000
    assert result["added_kib"] < 5 * 1024, result


@pytest.mark.django_db
def test_least_recently_used_connection_is_closed_first(settings, counting_server):
    from django.contrib.auth.models import User

    settings.SYMFONIA_MAIL = {"MAX_CONNECTIONS": 2}
    values = config_values(counting_server, security="none", username="", password="")
    users = [User.objects.create(username=f"u{i}") for i in range(3)]
    for user in users:
        UserMailConfig.objects.create(user=user, scope="individual", **values)
    a, b, c = users
    order = [a, b, a, c, a, b]  # c evicts b (a was used more recently); b reconnects
    messages = []
    for user in order:
        message = EmailMessage("s", "b", to=["k@example.com"])
        message.user = user
        messages.append(message)
    assert get_connection().send_messages(messages) == 6
    handler = counting_server.handler
    assert handler.messages == 6
    assert handler.connections == 4  # a, b, c, b again; a stayed open
    assert handler.peak_open <= 2
    assert MailLog.objects.filter(status="sent").count() == 6


@pytest.mark.django_db
def test_configurations_of_a_chunk_are_resolved_with_one_query(
        settings, counting_server, django_assert_max_num_queries):
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    values = config_values(counting_server, security="none", username="", password="")
    GlobalMailConfig.objects.update_or_create(pk=1, defaults=values)
    users = [User.objects.create(username=f"u{i}") for i in range(20)]
    for user in users[:10]:
        UserMailConfig.objects.create(user=user, scope="individual", **values)
    for user in users[10:15]:
        UserMailConfig.objects.create(user=user, scope="global", **values)
    messages = []
    for user in users:
        message = EmailMessage("s", "b", to=["k@example.com"])
        message.user = user
        messages.append(message)
    with CaptureQueriesContext(connection) as captured:
        assert get_connection().send_messages(iter(messages)) == 20
    per_user = [q for q in captured.captured_queries if "usermailconfig" in q["sql"].lower()]
    assert len(per_user) == 1
    assert counting_server.handler.messages == 20
