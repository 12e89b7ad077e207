"""MailLog rows: written through the ORM in bulk, retried one by one, never lost as a batch.

The failures are real database failures, not mocks: a CHECK constraint that
one row breaks, and a MailLog table locked by another connection (SQLite's
shared in-memory test database answers "database table is locked" at once).
"""

import logging
import threading

import pytest
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from symfonia_mail.models import MailLog
from symfonia_mail.tracking.maillog import LogBuffer, LogEntry, write


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


@pytest.mark.django_db(transaction=True)
def test_a_locked_table_loses_no_message_silently(global_config, smtp_server, caplog):
    holding, release = threading.Event(), threading.Event()

    def hold_the_table():
        # Another connection writes to MailLog and keeps its transaction open.
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
        messages = [EmailMessage(f"Nr {n}", "b", to=[f"k{n}@example.com"]) for n in range(3)]
        with caplog.at_level(logging.WARNING, logger="symfonia_mail"):
            sent = get_connection().send_messages(messages)
    finally:
        release.set()
        holder.join(10)
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
def test_a_single_send_outside_a_transaction_is_one_insert(global_config, smtp_server):
    get_connection().send_messages([EmailMessage("s", "b", to=["k@example.com"])])  # warm
    with CaptureQueriesContext(connection) as captured:
        get_connection().send_messages([EmailMessage("s", "b", to=["k@example.com"])])
    statements = [q["sql"].split()[0].upper() for q in captured.captured_queries]
    # The freshness check (a per-process cache in the test settings) and the row.
    assert statements == ["SELECT", "INSERT"]
    assert MailLog.objects.filter(status="sent").count() == 2
