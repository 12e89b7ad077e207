"""Delivery reports end to end: sent through a real Postfix, its reports applied.

The product sends through the private Postfix (tests/postfix.py); Postfix
bounces an unknown local recipient (``local_recipient_maps =`` accepts it at
RCPT) and answers ``NOTIFY=SUCCESS`` with a success report, both into the
sender's Maildir. The raw bytes of those files go to ``apply_report``, as the
IMAP fetch hands them over.
"""

import time

import pytest
from django.core.mail import send_mail

from symfonia_mail.models import DeliveryEvent, MailLog
from symfonia_mail.reports import apply_report, parse_report

from .test_postfix_dsn import through_postfix  # noqa: F401 - fixture

pytestmark = [pytest.mark.postfix, pytest.mark.django_db]


def report_bytes(postfix, envelope_id, timeout=20):
    """Return the raw bytes of the report naming *envelope_id* in the sender's Maildir."""
    needle = f"Original-Envelope-Id: {envelope_id}".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        folder = postfix.maildir("nadawca")
        for path in sorted(folder.iterdir()) if folder.is_dir() else ():
            data = path.read_bytes()
            if needle in data:
                return data
        time.sleep(0.05)
    raise AssertionError(f"No report for {envelope_id}. Postfix log:\n{postfix.log()}")


def test_postfix_bounce_records_a_bounced_message(through_postfix):  # noqa: F811
    postfix = through_postfix("OnFailure")
    send_mail("Faktura FV/3/2026", "Dzień dobry.", None, ["nie-ma-takiego@localhost"])
    row = MailLog.objects.get()
    assert row.status == "sent" and row.delivery == ""

    data = report_bytes(postfix, row.envelope_id)
    report = parse_report(data)
    assert report.kind == "dsn" and report.original_message_id == row.message_id
    assert apply_report(data) == row
    row.refresh_from_db()
    assert row.delivery == "bounced"
    event = DeliveryEvent.objects.get(maillog=row)
    assert (event.recipient, event.action, event.status) == (
        "nie-ma-takiego@localhost", "failed", "5.1.1")
    assert event.diagnostic  # Postfix says why ("unknown user")
    assert apply_report(data) == row and DeliveryEvent.objects.count() == 1


def test_postfix_success_report_records_a_delivered_message(through_postfix):  # noqa: F811
    postfix = through_postfix("OnSuccess")
    send_mail("Faktura FV/4/2026", "Dzień dobry.", None, ["odbiorca@dsn.test"])
    row = MailLog.objects.get()

    assert apply_report(report_bytes(postfix, row.envelope_id)) == row
    row.refresh_from_db()
    assert row.delivery == "delivered"
    event = row.delivery_events.get()
    assert (event.recipient, event.action, event.source) == (
        "odbiorca@dsn.test", "delivered", "report")
    assert event.status.startswith("2.")
