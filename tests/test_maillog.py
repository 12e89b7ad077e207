"""MailLog rows: written through the ORM in bulk, retried one by one, never lost as a batch.

The failures are real database failures, not mocks: a CHECK constraint that
one row breaks, and a MailLog table locked by another connection (SQLite's
shared in-memory test database answers "database table is locked" at once).
"""

import logging
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from symfonia_mail import pending_log, wait_for_log
from symfonia_mail.models import MailLog
from symfonia_mail.pending_log import pending
from symfonia_mail.signals import post_send
from symfonia_mail.tracking import log_writer
from symfonia_mail.tracking.maillog import LogBuffer, LogEntry, write

ROOT = Path(__file__).resolve().parent.parent


def entry(number, **values):
    values = {"scope": "global", "transport": "smtp", "server": "smtp.example.com:587",
              "subject": f"Faktura {number}", "status": "sent", "sender": "biuro@firma.example",
              "recipients": f"k{number}@example.com", "message_id": f"<{number}@test>",
              **values}
    return LogEntry(**values)


@pytest.mark.django_db
def test_a_batch_is_one_insert_through_the_orm():
    entries = [entry(n) for n in range(3)]
    with CaptureQueriesContext(connection) as captured:
        assert write(entries) == 3
    # One INSERT inside the caller's transaction (the test's), under a savepoint that
    # keeps that transaction usable should the insert fail; no commit of its own.
    statements = [q["sql"].split()[0].upper() for q in captured.captured_queries]
    assert statements == ["SAVEPOINT", "INSERT", "RELEASE"]
    assert sorted(MailLog.objects.values_list("message_id", flat=True)) == [
        "<0@test>", "<1@test>", "<2@test>"]
    assert all(e.pk for e in entries), "rows know their ids (message.symfonia_status)"


@pytest.mark.django_db
def test_outcome_time_is_kept_not_the_insert_time():
    buffer = LogBuffer()
    first = entry(1)
    buffer.add(first)
    stamped = first.created_at
    buffer.add(entry(2))
    buffer.flush()
    assert MailLog.objects.get(message_id="<1@test>").created_at == stamped


@pytest.mark.django_db
def test_a_row_the_database_refuses_is_named_and_the_others_are_written(caplog):
    # attempts is a PositiveIntegerField: the database's CHECK constraint refuses -1.
    bad = entry(2, attempts=-1, status="failed", error="SMTPDataError: 552 too big",
                recipients="zly@example.com")
    buffer = LogBuffer()
    with caplog.at_level(logging.WARNING, logger="symfonia_mail"):
        for item in (entry(1), bad, entry(3)):
            buffer.add(item)
        buffer.flush()
    assert sorted(MailLog.objects.values_list("message_id", flat=True)) == [
        "<1@test>", "<3@test>"]
    [lost] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "<2@test>" in lost and "zly@example.com" in lost
    assert "status failed" in lost and "552 too big" in lost
    assert "IntegrityError" in lost


@contextmanager
def table_held_by_another_connection():
    """Another connection writes to MailLog and keeps its transaction open until the end."""
    holding, release = threading.Event(), threading.Event()

    def hold_the_table():
        from django.db import connections

        try:
            with transaction.atomic():
                entry(0).save()
                holding.set()
                release.wait(10)
                transaction.set_rollback(True)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_table)
    holder.start()
    assert holding.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(10)


def send_three(caplog):
    messages = [EmailMessage(f"Nr {n}", "b", to=[f"k{n}@example.com"]) for n in range(3)]
    with caplog.at_level(logging.WARNING, logger="symfonia_mail"):
        return get_connection().send_messages(messages)


@pytest.mark.django_db(transaction=True)
def test_a_locked_table_loses_no_message_silently(global_config, smtp_server, caplog, settings):
    # The caller writes its own rows (no log writer): it cannot wait, so it names them.
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "LOG_WRITER": False}
    with table_held_by_another_connection():
        sent = send_three(caplog)
    assert sent == 3  # the mail went out; only its log rows could not be written
    assert len(smtp_server.messages) == 3
    lost = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(lost) == 3, lost
    for number, line in enumerate(lost):
        assert f"k{number}@example.com" in line and "status sent" in line
        assert "locked" in line
    received_ids = {m.message["Message-ID"] for m in smtp_server.messages}
    assert {line.split()[5] for line in lost} == received_ids
    assert MailLog.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_log_writer_waits_out_a_locked_table_and_the_send_does_not(
        global_config, smtp_server, caplog):
    with table_held_by_another_connection():
        started = time.monotonic()
        sent = send_three(caplog)
        returned = time.monotonic() - started
        time.sleep(0.3)  # the writer keeps trying meanwhile
        assert pending.waiting() == 3  # handed over, not written yet: the table is held
    assert sent == 3 and returned < 2
    # Released: the writer gets the table, and reading the log waits for its rows.
    assert sorted(MailLog.objects.values_list("recipients", flat=True)) == [
        "k0@example.com", "k1@example.com", "k2@example.com"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.django_db(transaction=True)
def test_the_log_writer_names_the_rows_a_database_keeps_refusing(
        global_config, smtp_server, caplog, monkeypatch):
    monkeypatch.setattr(log_writer, "BUSY_PATIENCE", 0.3)
    with table_held_by_another_connection():
        assert send_three(caplog) == 3
        assert wait_for_log(10)
    lost = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(lost) == 3, lost
    for number, line in enumerate(lost):
        assert f"k{number}@example.com" in line and "status sent" in line and "locked" in line
    assert MailLog.objects.count() == 0


@pytest.mark.django_db
def test_a_failed_log_write_leaves_the_callers_transaction_usable(caplog):
    with transaction.atomic():
        write([entry(1, attempts=-1)])
        # Without a savepoint around the insert, PostgreSQL would refuse this query.
        assert MailLog.objects.count() == 0
        write([entry(2)])
    assert MailLog.objects.get().message_id == "<2@test>"
    assert connection.in_atomic_block  # the test's own transaction is still there


@pytest.mark.django_db(transaction=True)
def test_a_single_send_outside_a_transaction_is_one_insert(global_config, smtp_server, settings):
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "LOG_WRITER": False}
    get_connection().send_messages([EmailMessage("s", "b", to=["k@example.com"])])  # warm
    with CaptureQueriesContext(connection) as captured:
        get_connection().send_messages([EmailMessage("s", "b", to=["k@example.com"])])
    statements = [q["sql"].split()[0].upper() for q in captured.captured_queries]
    # The freshness check (a per-process cache in the test settings) and the row.
    assert statements == ["SELECT", "INSERT"]
    assert MailLog.objects.filter(status="sent").count() == 2


@pytest.mark.django_db(transaction=True)
def test_with_the_log_writer_a_send_makes_one_query_and_its_row_follows(
        global_config, smtp_server):
    get_connection().send_messages([EmailMessage("s", "b", to=["k@example.com"])])  # warm
    message = EmailMessage("Faktura", "b", to=["k@example.com"])
    with CaptureQueriesContext(connection) as captured:
        assert get_connection().send_messages([message]) == 1
    # The freshness check only: the row is written by the writer's thread, not the caller.
    assert [q["sql"].split()[0].upper() for q in captured.captured_queries] == ["SELECT"]
    # Read right away, the row is there (the read waits for the writer)...
    row = MailLog.objects.get(subject="Faktura")
    # ... and the message knows its id.
    assert message.symfonia_status.maillog_id == row.pk and row.status == "sent"


@pytest.mark.django_db
def test_inside_a_transaction_the_rows_join_it(global_config, smtp_server):
    with CaptureQueriesContext(connection) as captured:
        assert get_connection().send_messages([EmailMessage("s", "b", to=["k@example.com"])])
    assert "INSERT" in [q["sql"].split()[0].upper() for q in captured.captured_queries]
    assert pending.waiting() == 0


@pytest.mark.django_db(transaction=True)
def test_a_post_send_receiver_gets_a_written_row(global_config, smtp_server):
    seen = []

    def receiver(sender, status, **kwargs):
        # Asked from the caller's thread: the row is in the database already.
        seen.append(MailLog.objects.filter(pk=status.maillog_id).exists())

    post_send.connect(receiver)
    try:
        with CaptureQueriesContext(connection) as captured:
            get_connection().send_messages([EmailMessage("s", "b", to=["k@example.com"])])
    finally:
        post_send.disconnect(receiver)
    assert seen == [True]
    assert "INSERT" in [q["sql"].split()[0].upper() for q in captured.captured_queries]


def test_a_forked_child_never_writes_its_parents_rows(tmp_path):
    """Rows handed over just before a fork are written once, by the parent only."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.log_writer_fork", str(tmp_path / "db.sqlite3")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["child-waiting=0", "rows=3"], result.stdout


# libfaketime (the suite's clock-shifted rerun, noxfile.py) moves the monotonic clock that a
# timed wait's deadline is computed from, but not the kernel's: such waits never time out.
UNDER_FAKETIME = "faketime" in os.environ.get("LD_PRELOAD", "")


@pytest.mark.skipif(UNDER_FAKETIME, reason="timed waits do not time out under libfaketime")
@pytest.mark.django_db(transaction=True)
def test_a_read_inside_a_transaction_never_deadlocks_with_the_writer(
        global_config, smtp_server, caplog, monkeypatch, django_user_model):
    gate, insert = threading.Event(), log_writer.insert

    def insert_after_the_gate(entries, alias):  # holds the writer back until the test says
        gate.wait(10)
        return insert(entries, alias)

    monkeypatch.setattr(log_writer, "insert", insert_after_the_gate)
    with caplog.at_level(logging.WARNING, logger="symfonia_mail"):
        assert get_connection().send_messages([EmailMessage("s", "b", to=["k@example.com"])])
        with transaction.atomic():
            django_user_model.objects.create(username="biuro")  # holds SQLite's write lock
            gate.set()  # the writer now needs that lock
            started = time.monotonic()
            MailLog.objects.count()  # waits a little, then reads without the row
            assert time.monotonic() - started < pending_log.IN_TRANSACTION_WAIT + 1
        # The transaction is over: the writer gets the lock, and the row is there.
        assert MailLog.objects.count() == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.django_db(transaction=True)
def test_the_writer_gathers_rows_of_many_calls_and_a_reader_does_not_wait_for_the_gathering(
        global_config, smtp_server, monkeypatch):
    monkeypatch.setattr(log_writer, "GATHER_SECONDS", 0.5)
    batches, insert = [], log_writer.insert

    def counted(entries, alias):
        batches.append(len(entries))
        return insert(entries, alias)

    monkeypatch.setattr(log_writer, "insert", counted)
    for number in range(20):
        get_connection().send_messages([EmailMessage(f"Nr {number}", "b", to=["k@example.com"])])
    started = time.monotonic()
    assert MailLog.objects.count() == 20  # the read asks the writer to write now
    assert time.monotonic() - started < 0.4
    assert sum(batches) == 20 and len(batches) <= 5, batches  # a transaction per gathering
