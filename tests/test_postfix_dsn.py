"""Delivery status notifications end to end through a real MTA (a private Postfix).

ConfiguredEmailBackend sends to Postfix on 127.0.0.1 with ``RET=HDRS
ENVID=<id>`` and ``NOTIFY=… ORCPT=rfc822;<address>`` per recipient; Postfix
delivers (or bounces) and writes a real RFC 3464 report (``multipart/report;
report-type=delivery-status``) into the sender's Maildir. The report names
the MailLog row's envelope id and the original recipient address.
"""

import time

import pytest
from django.core.mail import send_mail

from symfonia_mail.models import GlobalMailConfig, MailLog

pytestmark = [pytest.mark.postfix, pytest.mark.django_db]

SENDER = "nadawca@dsn.test"


@pytest.fixture
def through_postfix(postfix):
    """The global configuration sending through the private Postfix, with *dsn* to set."""

    def configure(dsn_notify):
        config = GlobalMailConfig.get_solo()
        config.transport, config.host, config.port = "smtp", postfix.host, postfix.port
        config.security, config.timeout_ms = "none", 10000
        config.sender_email, config.sender_name = SENDER, "Nadawca"
        config.dsn_notify = dsn_notify
        config.full_clean()
        config.save()
        return postfix

    return configure


def delivery_status(report):
    """Return (per-message fields, [per-recipient fields]) of an RFC 3464 report."""
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    [part] = [p for p in report.iter_parts() if p.get_content_type() == "message/delivery-status"]
    blocks = part.get_payload()
    return blocks[0], blocks[1:]


def report_for(envelope_id):
    def matches(message):
        if message.get_content_type() != "multipart/report":
            return False
        fields, _recipients = delivery_status(message)
        return fields["Original-Envelope-Id"] == envelope_id
    return matches


def test_notify_success_brings_back_a_delivery_report_naming_the_envelope_id(through_postfix):
    postfix = through_postfix("OnSuccess")
    began = time.monotonic()
    send_mail("Faktura FV/1/2026", "Dzień dobry.", None, ["odbiorca@dsn.test"])
    row = MailLog.objects.get()
    assert row.status == MailLog.Status.SENT
    assert row.dsn_requested == "SUCCESS" and row.envelope_id

    report = postfix.wait_for("nadawca", report_for(row.envelope_id))
    elapsed = time.monotonic() - began
    fields, [recipient] = delivery_status(report)
    assert fields["Original-Envelope-Id"] == row.envelope_id
    assert recipient["Action"] == "delivered"
    assert recipient["Status"].startswith("2.")
    assert recipient["Original-Recipient"].replace(" ", "") == "rfc822;odbiorca@dsn.test"
    # RET=HDRS: the report returns the headers only, with our Message-ID.
    [headers] = [p for p in report.iter_parts() if p.get_content_type() == "text/rfc822-headers"]
    assert row.message_id in headers.get_content()
    # And the message itself was delivered.
    delivered = postfix.wait_for("odbiorca", lambda m: m["Message-ID"] == row.message_id)
    assert delivered["Subject"] == "Faktura FV/1/2026"
    print(f"success report after {elapsed:.2f} s (Postfix setup {postfix.setup_seconds:.2f} s)")


def test_notify_failure_brings_back_a_bounce_naming_the_envelope_id(through_postfix):
    postfix = through_postfix("OnFailure")
    began = time.monotonic()
    # Accepted at RCPT (local_recipient_maps is empty), then bounced by local delivery.
    # The "+" travels xtext-encoded in ORCPT (jan+2B...): Postfix decodes it back.
    send_mail("Faktura FV/2/2026", "Dzień dobry.", None, ["nie-ma+takiego@localhost"])
    row = MailLog.objects.get()
    assert row.status == MailLog.Status.SENT  # the server took it; the bounce comes later
    assert row.dsn_requested == "FAILURE"

    report = postfix.wait_for("nadawca", report_for(row.envelope_id))
    elapsed = time.monotonic() - began
    assert report["Subject"] == "Undelivered Mail Returned to Sender"
    fields, [recipient] = delivery_status(report)
    assert recipient["Action"] == "failed"
    assert recipient["Status"] == "5.1.1"
    assert recipient["Original-Recipient"].replace(" ", "") == "rfc822;nie-ma+takiego@localhost"
    print(f"bounce after {elapsed:.2f} s")


@pytest.mark.slow
def test_a_postfix_that_cannot_start_fails_with_its_own_words():
    """The fixture never skips: a Postfix that cannot listen raises with its log."""
    import socket

    from .postfix import PostfixError, start

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(PostfixError) as caught:
            start(port=taken.getsockname()[1]).stop()
    assert "Address already in use" in str(caught.value)
