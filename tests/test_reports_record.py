"""apply_report: matching a report to its MailLog row and recording one event per recipient."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from symfonia_mail.models import DeliveryEvent, MailLog
from symfonia_mail.reports import apply_report
from symfonia_mail.signals import delivery_report

from .reports_samples import complaint, dsn, vacation

pytestmark = pytest.mark.django_db

ENVID = "0f3c2a9b8d7e4f60a1b2c3d4e5f60718"


def logged(recipients="odbiorca@example.com", message_id="<msg-1@nadawca.example>",
           envelope_id=ENVID, **values):
    return MailLog.objects.create(status="sent", scope="global", transport="smtp",
                                  recipients=recipients, message_id=message_id,
                                  envelope_id=envelope_id, subject="Faktura", **values)


@pytest.fixture
def signals_received():
    received = []

    def receiver(sender, maillog, event, **kwargs):
        received.append((maillog.pk, event.recipient, event.action))

    delivery_report.connect(receiver)
    yield received
    delivery_report.disconnect(receiver)


def test_a_bounce_is_matched_by_the_upper_cased_envelope_id(signals_received):
    # aiosmtpd (and some relays) upper-case the ENVID parameter.
    row = logged(message_id="<other@x>")
    decoy = logged(envelope_id="", message_id="<msg-1@nadawca.example>")
    assert apply_report(dsn(ENVID.upper())) == row
    [event] = DeliveryEvent.objects.all()
    assert event.maillog == row and event.maillog != decoy
    assert (event.recipient, event.action, event.status, event.source) == (
        "odbiorca@example.com", "failed", "5.1.1", "report")
    assert "Recipient address rejected" in event.diagnostic
    row.refresh_from_db()
    assert row.delivery == "bounced"
    assert signals_received == [(row.pk, "odbiorca@example.com", "failed")]


def test_the_same_report_twice_records_nothing_new(signals_received):
    row = logged()
    data = dsn(ENVID)
    apply_report(data)
    assert apply_report(data) == row
    assert DeliveryEvent.objects.count() == 1 and len(signals_received) == 1


def test_two_workers_applying_one_report_at_once_record_it_once(transactional_db, settings,
                                                                signals_received):
    row = logged()
    data = dsn(ENVID)
    barrier = threading.Barrier(2)
    errors = []

    def work():
        try:
            barrier.wait(5)
            apply_report(data)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # SQLite in memory refuses a second writer at once ("table is locked"): then one of
    # the two fails loudly, and still nothing is recorded twice.
    assert DeliveryEvent.objects.filter(maillog=row).count() == 1
    assert len(signals_received) == 1
    assert all("locked" in str(exc) for exc in errors), errors


def test_delayed_then_delivered_is_delivered_and_delayed_is_never_a_bounce():
    row = logged()
    earlier = timezone.now() - timedelta(hours=5)
    apply_report(dsn(ENVID, [("odbiorca@example.com", "delayed", "4.4.7")], date=earlier))
    row.refresh_from_db()
    assert row.delivery == "delayed"
    apply_report(dsn(ENVID, [("odbiorca@example.com", "delivered", "2.0.0")]))
    row.refresh_from_db()
    assert row.delivery == "delivered"
    # A late-arriving "still trying" does not undo the final word.
    apply_report(dsn(ENVID, [("odbiorca@example.com", "delayed", "4.4.7")],
                     date=timezone.now() + timedelta(hours=1)))
    row.refresh_from_db()
    assert row.delivery == "delivered"
    assert list(row.delivery_events.values_list("action", flat=True)) == [
        "delayed", "delivered", "delayed"]


def test_some_recipients_failed_is_partly_bounced():
    row = logged(recipients="a@example.com, b@example.com")
    apply_report(dsn(ENVID, [("a@example.com", "failed", "5.2.2")]))
    row.refresh_from_db()
    assert row.delivery == "partly_bounced"
    apply_report(dsn(ENVID, [("b@example.com", "failed", "5.1.1")]))
    row.refresh_from_db()
    assert row.delivery == "bounced"


def test_matched_by_the_original_message_id_exchange_keeps():
    # Exchange replaces our Message-ID and keeps ours in X-Microsoft-Original-Message-ID.
    row = logged(envelope_id="", message_id="<ours@nadawca.example>")
    data = dsn("", message_id="<exchange@outlook.example>",
               headers="X-Microsoft-Original-Message-ID: <ours@nadawca.example>\n")
    assert apply_report(data) == row
    assert row.delivery_events.get().action == "failed"


def test_matched_by_in_reply_to_when_nothing_else_names_the_message():
    row = logged(envelope_id="", message_id="<ours@nadawca.example>")
    data = (b"From: MAILER-DAEMON@mx.example.com\r\nSubject: failure notice\r\n"
            b"In-Reply-To: <ours@nadawca.example>\r\n\r\n"
            b"Hi. This is the qmail-send program at mx.example.com.\r\n"
            b"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
            b"This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
            b"<odbiorca@example.com>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n")
    assert apply_report(data) == row
    event = row.delivery_events.get()
    assert (event.recipient, event.action, event.status) == (
        "odbiorca@example.com", "failed", "5.1.1")


def test_a_report_about_someone_elses_message_records_nothing(signals_received):
    logged()
    assert apply_report(dsn("ffffffffffffffffffffffffffffffff",
                            message_id="<theirs@elsewhere.example>")) is None
    assert not DeliveryEvent.objects.exists() and not signals_received


def test_never_matched_by_the_recipient_alone():
    logged(envelope_id="", message_id="<ours@nadawca.example>")
    assert apply_report(dsn("", message_id="<theirs@elsewhere.example>")) is None
    assert not DeliveryEvent.objects.exists()


def test_an_autoreply_changes_no_delivery_state(signals_received):
    row = logged()
    assert apply_report(vacation()) == row
    assert apply_report(vacation(subject="Re: Faktura", auto_submitted="auto-replied")) == row
    row.refresh_from_db()
    assert row.delivery == "" and not DeliveryEvent.objects.exists() and not signals_received


def test_a_complaint_is_recorded_as_such():
    row = logged(envelope_id="")
    apply_report(complaint())
    assert row.delivery_events.get().action == "complained"


def test_a_malformed_report_records_nothing():
    logged()
    data = dsn(ENVID)
    assert apply_report(data[: data.index(b"Action:")]) in (None, MailLog.objects.get())
    assert not DeliveryEvent.objects.filter(action="failed").exists()


def test_queries_per_report_are_few_and_fixed(django_assert_max_num_queries):
    logged(recipients="a@example.com, b@example.com")
    data = dsn(ENVID, [("a@example.com", "failed", "5.1.1"), ("b@example.com", "delivered",
                                                                "2.0.0")])
    # Find the row, lock it, the digests known, one insert, the summary: not per recipient.
    with django_assert_max_num_queries(9) as captured:
        apply_report(data)
    print(f"\n{len(captured)} queries for a report of two recipients")
    with django_assert_max_num_queries(len(captured) - 3):
        apply_report(data)  # nothing new: no insert, no summary


def test_apply_parsed_tells_a_report_about_nothing_of_ours_from_no_report():
    from symfonia_mail.reports import apply_parsed, parse_report

    row = logged()
    assert apply_parsed(parse_report(dsn(ENVID))) == row
    foreign = parse_report(dsn("ffff", message_id="<theirs@elsewhere.example>"))
    assert foreign is not None and apply_parsed(foreign) is None
    assert DeliveryEvent.objects.count() == 1
