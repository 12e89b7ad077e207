"""max_connections: a configuration's SMTP sessions at once, for all processes together.

The servers are real aiosmtpd on 127.0.0.1 that count their open sessions and,
like Exchange Online, refuse a session beyond their limit with "432 4.3.2"
(tests/smtpd.py SessionHandler).
"""

import json
import os
import smtplib
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.mail import send_mail
from django.utils import timezone

from symfonia_mail.config import resolver
from symfonia_mail.exceptions import MessageRefused, RecipientsRefused, SenderRefused
from symfonia_mail.models import MailLog, SmtpConnectionLease
from symfonia_mail.smtp import limits as smtp_limits
from symfonia_mail.smtp import pool as smtp_pool

from .conftest import save_global
from .smtpd import CountingSMTP, SessionHandler, SMTPServer
from .test_background import background, dummy_tasks, run_ready_tasks, send  # noqa: F401
from .test_reminders_processes import database_env  # noqa: F401 - the shared-database fixture

ROOT = Path(__file__).resolve().parent.parent


def limited_server(make_smtp_server, limit):
    server = make_smtp_server(tls=None, handler=SessionHandler(limit=limit),
                              smtp_class=CountingSMTP)
    server.handler.forget_start_check()
    return server


@pytest.mark.parametrize(("host", "stored", "limit"), [
    ("smtp.office365.com", None, 3), ("SMTP.Office365.com.", None, 3),
    ("smtp-legacy.office365.com", None, 3), ("outlook.office365.com", None, 3),
    ("smtp.office365.com", 1, 1), ("smtp.gmail.com", None, None), ("mail.firma.pl", 5, 5),
])
def test_the_limit_is_microsofts_3_unless_set(host, stored, limit):
    config = resolver.ResolvedConfig(
        scope="global", user_id=None, transport="smtp", host=host, port=587,
        security="starttls", verify_certificate=True, timeout=5, username="", sender_email="",
        sender_name="", cc=(), bcc=(), dsn_notify=(), company_name="", max_connections=stored)
    assert smtp_limits.limit_for(config) == limit


@pytest.mark.parametrize(("error", "busy"), [
    (SenderRefused(432, "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", "a@b"),
     True),
    (MessageRefused(421, "4.7.0 Too many connections, try again later"), True),
    (RecipientsRefused({"k@example.com": (452, b"4.3.1 Insufficient system resources")}),
     True),
    (SenderRefused(421, "4.4.2 Idle timeout", "a@b"), False),
    (SenderRefused(550, "5.7.1 Not allowed 4.3.2", "a@b"), False),
    (RecipientsRefused({"a@example.com": (452, b"4.3.1 no room"),
                        "b@example.com": (550, b"5.1.1 unknown")}), False),
    (smtplib.SMTPServerDisconnected("gone"), False),
])
def test_too_many_connections_replies_are_recognised(error, busy):
    assert smtp_limits.too_many(error) is busy


@pytest.mark.django_db
def test_slots_are_taken_once_and_an_expired_one_is_taken_over():
    first, second = (smtp_limits.try_acquire("global", 2) for _ in range(2))
    assert {first.slot, second.slot} == {0, 1}
    assert smtp_limits.try_acquire("global", 2) is None  # both held
    assert smtp_limits.try_acquire("user:7", 2) is not None  # another configuration's slots
    # The holder of slot 0 died: its lease expires, and the slot is free again.
    SmtpConnectionLease.objects.filter(config_key="global", slot=first.slot).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    taken_over = smtp_limits.try_acquire("global", 2)
    assert taken_over.slot == first.slot
    first.release()  # the dead holder's late release does not free the new holder's slot
    assert smtp_limits.try_acquire("global", 2) is None
    second.release()
    assert smtp_limits.try_acquire("global", 2).slot == second.slot


@pytest.mark.django_db
def test_a_kept_connection_holds_its_slot_until_it_closes(make_smtp_server):
    server = limited_server(make_smtp_server, limit=None)
    save_global(server, security="none", username="", password="", max_connections=1)
    assert send_mail("s", "b", None, ["klient@example.com"]) == 1
    assert SmtpConnectionLease.objects.filter(config_key="global").count() == 1
    smtp_pool.close_all()
    assert SmtpConnectionLease.objects.count() == 0


@pytest.mark.django_db
def test_a_server_that_is_full_is_waited_for_not_failed(make_smtp_server):
    # Another program holds the mailbox's only session; it leaves after 0.5 s.
    server = limited_server(make_smtp_server, limit=1)
    save_global(server, security="none", username="", password="")
    other = smtplib.SMTP(server.host, server.port, timeout=5)
    other.ehlo()
    threading.Timer(0.5, other.close).start()
    started = time.monotonic()
    assert send_mail("Czeka", "b", None, ["klient@example.com"]) == 1
    assert time.monotonic() - started >= 0.3
    assert server.handler.refused_busy >= 1  # the server did say 4.3.2 first
    assert len(server.handler.message_ids()) == 1
    assert MailLog.objects.get().status == "sent"


def child(*args, env):
    return subprocess.Popen([sys.executable, "-m", "tests.limit_child", *map(str, args)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def share_a_limit(tmp_path, database, *, limit, processes_n, threads, count):
    """Send from *processes_n* OS processes of *threads* threads through one configuration
    with ``max_connections = limit``, to a server that refuses a session beyond *limit*.

    The senders run in child processes on a database they share (tests/limit_child.py),
    as in production: the suite's own in-memory SQLite uses a shared cache, where a
    connection waiting for a table's lock makes every other connection's next read fail
    at once with "database table is locked" - which no file database nor PostgreSQL does.
    """
    server = SMTPServer(tls=None, handler=SessionHandler(limit=limit), smtp_class=CountingSMTP)
    server.handler.forget_start_check()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SYMFONIA_PG_")}
    env = {**inherited, **database, "DJANGO_SETTINGS_MODULE": "tests.settings_file_db",
           "PYTHONPATH": str(ROOT)}
    processes = []
    try:
        setup = child("setup", server.port, limit, env=env)
        processes.append(setup)
        _out, err = setup.communicate(timeout=120)
        assert setup.returncode == 0, err
        go = tmp_path / "go"
        senders = [child("send", tmp_path / f"ready{n}", go, threads, count, env=env)
                   for n in range(processes_n)]
        processes += senders
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready{n}").exists() for n in range(processes_n)):
            assert time.monotonic() < deadline, "the senders did not start"
            assert all(p.poll() is None for p in senders), senders[0].stderr.read()
            time.sleep(0.01)
        go.touch()
        reports = []
        for sender in senders:
            out, err = sender.communicate(timeout=300)
            assert sender.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        server.stop()
    total = processes_n * threads * count
    assert [r["errors"] for r in reports] == [[]] * processes_n
    assert sum(r["sent"] for r in reports) == total
    handler = server.handler
    assert handler.peak_open <= limit, handler.peak_open
    assert handler.refused_busy == 0
    ids = handler.message_ids()
    assert len(ids) == total and set(ids.values()) == {1}


def test_threads_of_one_process_never_open_more_than_the_limit(tmp_path):
    share_a_limit(tmp_path, {"SYMFONIA_TEST_DB": str(tmp_path / "db.sqlite3")},
                  limit=2, processes_n=1, threads=6, count=5)


@pytest.mark.slow
def test_4_processes_of_8_threads_share_3_connections(tmp_path, database_env):  # noqa: F811
    share_a_limit(tmp_path, database_env, limit=3, processes_n=4, threads=8, count=5)


@pytest.mark.django_db
def test_the_admin_shows_the_limit_with_microsofts_default_explained(client, admin_user):
    from django.urls import reverse

    client.force_login(admin_user)
    page = client.get(reverse("admin:symfonia_mail_globalmailconfig_change", args=[1]))
    html = page.content.decode()
    assert 'name="max_connections"' in html
    assert "Połączeń jednocześnie" in html and "3 dla Microsoft 365" in html


@pytest.mark.django_db
def test_a_background_worker_retries_a_full_server_later(
        dummy_tasks, make_smtp_server, settings, send):  # noqa: F811
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "RETRY_BASE_DELAY": 0.1}
    server = limited_server(make_smtp_server, limit=1)
    save_global(server, security="none", username="", password="")
    other = smtplib.SMTP(server.host, server.port, timeout=5)  # holds the only session
    other.ehlo()
    send("W tle", "b", None, ["klient@example.com"])
    assert run_ready_tasks(dummy_tasks) == ["retry"]  # not failed: the server was full
    log = MailLog.objects.get()
    assert log.status == "retry" and "4.3.2" in log.error
    other.close()
    time.sleep(max((log.next_attempt_at - timezone.now()).total_seconds(), 0) + 0.05)
    assert run_ready_tasks(dummy_tasks) == ["sent"]
    assert len(server.handler.message_ids()) == 1


@pytest.mark.django_db
def test_a_connection_whose_lease_vanished_is_not_kept(make_smtp_server, monkeypatch):
    server = limited_server(make_smtp_server, limit=None)
    save_global(server, security="none", username="", password="", max_connections=1)
    assert send_mail("s", "b", None, ["klient@example.com"]) == 1
    # The caller's transaction that wrote the lease rolled back, say: the row is gone.
    SmtpConnectionLease.objects.all().delete()
    monkeypatch.setattr(smtp_limits, "RENEW_AFTER", 0)  # renew at the next message
    assert send_mail("s", "b", None, ["klient@example.com"]) == 1
    assert smtp_pool.idle_count() == 0  # closed, not kept on a slot that is not ours
    assert send_mail("s", "b", None, ["klient@example.com"]) == 1
    assert SmtpConnectionLease.objects.count() == 1  # the new session took a slot again
    assert server.handler.connections == 2
