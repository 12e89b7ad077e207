"""Large attachments are base64-encoded once and spliced into Django's own message bytes."""

import os
import random
import re
import string
from email import message_from_bytes, policy

import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives

from symfonia_mail import compat
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


def djangos_own_bytes(message):
    """The bytes Django's SMTP backend sends (its own generator, every header folded)."""
    if compat.DJANGO_6:
        return message.message(policy=policy.SMTP).as_bytes()
    return message.message().as_bytes(linesep="\r\n")


def varied_messages():
    plain = EmailMessage("Faktura FV/1/2026", "Treść", "Biuro <biuro@firma.example>",
                         ["k@example.com", "Jan Kowalski <jan@example.com>"],
                         cc=["a  b <c@example.com>"], headers={"X-Tag": " spaced  out "})
    polish = EmailMessage("Przypomnienie o płatności – zaległe faktury " * 3, "Dzień dobry",
                          "Księgowość <biuro@firma.example>", ["Łukasz <l@example.com>"])
    html = EmailMultiAlternatives("Raport", "tekst", "biuro@firma.example",
                                  [f"odbiorca{n}@example.com" for n in range(12)])
    html.attach_alternative("<p>tekst</p>", "text/html")
    html.attach("zestawienie.csv", "nr;kwota\n1;2\n", "text/csv")
    long_word = EmailMessage("x" * 120, "b", "biuro@firma.example", ["k@example.com"],
                             headers={"X-Long": "y" * 90, "X-Tab": "a\tb"})
    for number, message in enumerate([plain, polish, html, long_word]):
        message.extra_headers.setdefault("Message-ID", f"<{number}@test>")
        message.extra_headers.setdefault("Date", "Mon, 07 Dec 2026 09:00:00 +0100")
        yield message


@pytest.mark.parametrize("message", list(varied_messages()), ids=["plain", "polish", "html",
                                                                  "long"])
def test_our_generator_writes_djangos_bytes(message):
    # compat.message_bytes writes short plain headers without Python's folding (5.2):
    # byte for byte what Django's own generator writes, boundaries aside.
    ours, theirs = message_bytes(message)[1], djangos_own_bytes(message)
    boundaries = re.findall(rb'boundary="([^"]+)"', ours)
    for number, boundary in enumerate(boundaries):
        ours = ours.replace(boundary, b"BOUNDARY%d" % number)
    for number, boundary in enumerate(re.findall(rb'boundary="([^"]+)"', theirs)):
        theirs = theirs.replace(boundary, b"BOUNDARY%d" % number)
    assert ours == theirs


def test_a_header_that_fits_is_written_as_python_folds_it():
    fold = policy.compat32.clone(linesep="\r\n").fold_binary
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + " \t;,:<>\"'=()[]@.!-_/\\?*"
    checked = 0
    for _ in range(20_000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 90)))
        if compat._UNFOLDED.match(value) and len("Subject: ") + len(value) <= 78:
            assert fold("Subject", value) == f"Subject: {value}\r\n".encode(), value
            checked += 1
    assert checked > 1000
