"""Large attachments are base64-encoded once and spliced into Django's own message bytes."""

import os
from email import message_from_bytes, policy

import pytest
from django.core.mail import EmailMessage

from symfonia_mail.compat import message_bytes
from symfonia_mail.content.message import envelope
from symfonia_mail.content.mimebytes import LARGE


def parts(data):
    parsed = message_from_bytes(data, policy=policy.default)
    return [(p.get_content_type(), p.get_filename(), p.get("Content-Transfer-Encoding"),
             p.get_payload(decode=True)) for p in parsed.walk() if not p.is_multipart()]


def a_message():
    message = EmailMessage("Faktura", "Dzień dobry", "biuro@firma.example", ["k@example.com"])
    message.attach("big.pdf", os.urandom(3 * LARGE + 7), "application/pdf")
    message.attach("small.bin", os.urandom(100), "application/octet-stream")
    message.attach("lista.csv", "nr;kwota\n" * 10_000, "text/csv")
    message.attach("also-big.zip", os.urandom(LARGE), "application/zip")
    message.extra_headers["Message-ID"] = "<fixed@test>"
    return message


def test_bytes_carry_the_same_parts_as_djangos_own():
    message = a_message()
    django_bytes = message_bytes(message)[1]  # as Django's backend builds them
    _from, _to, ours, message_id = envelope(message)
    assert parts(ours) == parts(django_bytes)
    assert message_id == "<fixed@test>"
    assert b"symfonia-mail-attachment" not in ours
    assert max(len(line) for line in ours.split(b"\r\n")) <= 78
    assert b"\n" not in ours.replace(b"\r\n", b"")  # CRLF everywhere, as SMTP wants


def test_the_callers_attachments_are_left_as_they_were():
    message = a_message()
    before = list(message.attachments)
    envelope(message)
    assert message.attachments == before


@pytest.mark.django_db
def test_a_large_attachment_arrives_intact(global_config, smtp_server):
    content = os.urandom(5 * LARGE)
    message = EmailMessage("Faktura", "b", to=["k@example.com"])
    message.attach("skan.pdf", content, "application/pdf")
    assert message.send() == 1
    [received] = smtp_server.messages
    [attachment] = list(received.message.iter_attachments())
    assert attachment.get_filename() == "skan.pdf"
    assert attachment.get_content() == content
