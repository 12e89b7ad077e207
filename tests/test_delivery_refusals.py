"""A recipient refused at RCPT time is a `failed` DeliveryEvent with source `smtp`."""

import pytest
from django.core import mail
from django.core.mail import EmailMessage, send_mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from symfonia_mail.models import DeliveryEvent, MailLog
from symfonia_mail.signals import delivery_report

from .conftest import save_global
from .test_background import background, send  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

REFUSE = {"nobody@example.com": "550 5.1.1 No such user", "full@example.com": "552 5.2.2 Full"}


def test_a_recipient_refused_at_send_time_is_a_failed_event(make_smtp_server):
    server = make_smtp_server(refuse_rcpt=REFUSE)
    save_global(server)
    received = []
    delivery_report.connect(receiver := lambda sender, maillog, event, **kw:
                            received.append((maillog.pk, event.recipient)))
    try:
        send_mail("s", "b", None, ["a@example.com", "nobody@example.com"], fail_silently=True)
    finally:
        delivery_report.disconnect(receiver)
    log = MailLog.objects.get()
    assert log.status == "partial" and log.delivery == "partly_bounced"
    event = DeliveryEvent.objects.get()
    assert (event.maillog, event.recipient, event.action, event.status, event.source) == (
        log, "nobody@example.com", "failed", "5.1.1", "smtp")
    assert "No such user" in event.diagnostic
    assert received == [(log.pk, "nobody@example.com")]


def test_every_recipient_refused_is_bounced(make_smtp_server):
    server = make_smtp_server(refuse_rcpt=REFUSE)
    save_global(server)
    send_mail("s", "b", None, ["nobody@example.com"], fail_silently=True)
    log = MailLog.objects.get()
    assert log.status == "failed" and log.delivery == "bounced"
    assert DeliveryEvent.objects.get().recipient == "nobody@example.com"


def test_refusals_in_a_batch_cost_one_insert_not_one_per_message(make_smtp_server):
    server = make_smtp_server(refuse_rcpt=REFUSE)
    save_global(server)
    messages = [EmailMessage("s", "b", None, ["a@example.com", "nobody@example.com",
                                              "full@example.com"]) for _ in range(5)]
    connection_ = mail.get_connection(fail_silently=True)
    with CaptureQueriesContext(connection) as queries:
        connection_.send_messages(messages)
    inserts = [q["sql"] for q in queries if "INSERT INTO" in q["sql"]
               and "deliveryevent" in q["sql"]]
    assert len(inserts) == 1
    assert DeliveryEvent.objects.count() == 10
    assert set(MailLog.objects.values_list("delivery", flat=True)) == {"partly_bounced"}


def test_a_message_without_refusals_records_no_event(make_smtp_server):
    server = make_smtp_server()
    save_global(server)
    send_mail("s", "b", None, ["a@example.com"])
    assert MailLog.objects.get().delivery == "" and not DeliveryEvent.objects.exists()


def test_refused_in_the_background_is_a_failed_event(background, make_smtp_server, send):  # noqa: F811
    server = make_smtp_server(refuse_rcpt=REFUSE)
    save_global(server)
    send("s", "b", None, ["client@example.com", "full@example.com"])
    log = MailLog.objects.get()
    assert log.status == "partial" and log.delivery == "partly_bounced"
    event = DeliveryEvent.objects.get()
    assert (event.recipient, event.status, event.source) == ("full@example.com", "5.2.2", "smtp")
