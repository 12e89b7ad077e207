"""Protected attachments end to end: Django's EmailMessage -> our backend -> a real SMTP server.

The server is aiosmtpd on 127.0.0.1 (tests/smtpd.py); each attachment is read
back from the message it received and checked with pikepdf/pyzipper and with
qpdf and 7z.
"""

from collections import namedtuple
from email.mime.image import MIMEImage

import pytest
import pyzipper
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives

from symfonia_mail.compat import DJANGO_6
from symfonia_mail.exceptions import AttachmentProtectionError
from symfonia_mail.models import GlobalMailConfig, MailLog

from .test_protection import (
    CSV,
    PASSWORD,
    PNG,
    assert_pdf_protected,
    assert_zip_protected,
    make_damaged_pdf,
    make_encrypted_pdf,
    make_pdf,
    make_xlsx_like,
    open_zip,
)

pytestmark = [pytest.mark.django_db, pytest.mark.external_tools]

Attachment = namedtuple("Attachment", "filename content mimetype")


@pytest.fixture
def protected_config(global_config):
    config = GlobalMailConfig.get_solo()
    config.attachment_password = PASSWORD
    config.save()
    return config


def received_attachments(received):
    """Return the attachments of a received message as (filename, bytes, type)."""
    return [
        Attachment(part.get_filename(), part.get_content(), part.get_content_type())
        for part in received.message.iter_attachments()
    ]


def invoice_message():
    message = EmailMessage("Faktura FV/12/2026", "W załączeniu faktura.",
                           to=["client@example.com"])
    message.attach("FV_12_2026.pdf", make_pdf(4), "application/pdf")
    message.attach("należności.csv", CSV, "text/csv")
    message.attach("raport.xlsx", make_xlsx_like(),
                   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    message.attach("uszkodzony.pdf", make_damaged_pdf(), "application/pdf")
    message.attach("zaszyfrowany.pdf", make_encrypted_pdf(), "application/pdf")
    return message


def test_every_attachment_arrives_protected(protected_config, smtp_server, tmp_path):
    message = invoice_message()
    originals = list(message.attachments)
    assert message.send() == 1

    [received] = smtp_server.messages
    pdf, csv, xlsx, damaged, encrypted = received_attachments(received)
    assert_pdf_protected(tmp_path, pdf, name="FV_12_2026.pdf", pages=4)
    assert_zip_protected(tmp_path, csv, member="należności.csv", data=CSV)
    assert_zip_protected(tmp_path, xlsx, member="raport.xlsx", data=originals[2].content)
    assert_zip_protected(tmp_path, damaged, member="uszkodzony.pdf", data=make_damaged_pdf())
    assert_zip_protected(tmp_path, encrypted, member="zaszyfrowany.pdf",
                         data=originals[4].content)
    # The caller's message is untouched: sending it again starts from the originals.
    assert message.attachments == originals
    assert MailLog.objects.get().status == "sent"


def test_resending_protects_once(protected_config, smtp_server):
    message = EmailMessage("Zestawienie", "…", to=["client@example.com"])
    message.attach("należności.csv", CSV, "text/csv")
    message.send()
    message.send()
    first, second = (received_attachments(r)[0] for r in smtp_server.messages)
    for attachment in (first, second):
        assert attachment.filename == "należności.csv.zip"
        assert open_zip(attachment.content)[1] == CSV  # one layer, not a ZIP in a ZIP


def test_inline_logo_arrives_as_a_picture_beside_a_protected_file(
        protected_config, smtp_server, tmp_path):
    message = EmailMultiAlternatives("Logo", "tekst", to=["client@example.com"])
    message.attach_alternative('<html><img src="cid:logo@firma.example"></html>', "text/html")
    if not DJANGO_6:  # Django 6 dropped the attribute
        message.mixed_subtype = "related"
    image = MIMEImage(PNG, "png")
    image.add_header("Content-ID", "<logo@firma.example>")
    message.attach(image)
    message.attach("należności.csv", CSV, "text/csv")
    message.send()

    [received] = smtp_server.messages
    [logo] = [p for p in received.message.walk() if p.get_content_maintype() == "image"]
    assert logo["Content-ID"] == "<logo@firma.example>"
    assert logo.get_payload(decode=True) == PNG  # shown by the HTML, as sent
    if not DJANGO_6:
        assert received.message.get_content_subtype() == "related"
    [csv] = [a for a in received_attachments(received) if a.filename]
    assert csv.filename == "należności.csv.zip"
    assert_zip_protected(tmp_path, csv, member="należności.csv", data=CSV)
    assert received.message.get_body(("html",)).get_content().strip().startswith("<html>")


def test_no_password_sends_attachments_as_they_are(global_config, smtp_server):
    message = EmailMessage("Faktura", "…", to=["client@example.com"])
    message.attach("FV.pdf", make_pdf(1), "application/pdf")
    message.send()
    [attachment] = received_attachments(smtp_server.messages[0])
    assert attachment.filename == "FV.pdf" and attachment.content == message.attachments[0].content


def test_system_transport_protects_too(protected_config, settings):
    settings.SYMFONIA_MAIL = {"SYSTEM_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    protected_config.transport = "system"
    protected_config.save()
    message = EmailMessage("Faktura", "…", to=["client@example.com"])
    message.attach("należności.csv", CSV, "text/csv")
    message.send()
    [handed_over] = mail.outbox
    [attachment] = handed_over.attachments
    assert attachment.filename == "należności.csv.zip"
    assert open_zip(attachment.content)[1] == CSV


# Fail closed: nothing reaches the server, the log and the exception name the file.

def failing_message():
    message = EmailMessage("Faktura", "…", to=["client@example.com"])
    message.attach("FV_12_2026.pdf", make_pdf(2), "application/pdf")
    message.attach("należności.csv", CSV, "text/csv")
    return message


def assert_failed_and_logged(smtp_server, *, reason, password=PASSWORD):
    assert smtp_server.messages == []
    log = MailLog.objects.get()
    assert log.status == "failed"
    assert "należności.csv" in log.error and reason in log.error
    assert password not in log.error


def test_unusable_password_sends_nothing(protected_config, smtp_server):
    # A real failure: 7-Zip cannot open AES ZIPs with passwords over 99 bytes,
    # so such a password cannot protect the CSV (the PDF alone would be fine).
    protected_config.attachment_password = "ż" * 60  # 120 bytes
    protected_config.save()
    message = failing_message()
    with pytest.raises(AttachmentProtectionError) as caught:
        message.send()
    assert caught.value.filename == "należności.csv"
    assert "należności.csv" in str(caught.value) and "120 bytes" in str(caught.value)
    assert "ż" * 60 not in str(caught.value)
    assert_failed_and_logged(smtp_server, reason="120 bytes", password="ż" * 60)


def test_unusable_password_with_fail_silently(protected_config, smtp_server):
    protected_config.attachment_password = "ż" * 60
    protected_config.save()
    assert failing_message().send(fail_silently=True) == 0
    assert_failed_and_logged(smtp_server, reason="120 bytes", password="ż" * 60)


def test_unknown_zip_encryption_sends_nothing(protected_config, smtp_server, settings):
    # A real failure: the setting names an encryption that does not exist.
    settings.SYMFONIA_MAIL = {"ZIP_ENCRYPTION": "rot13"}
    message = failing_message()
    with pytest.raises(AttachmentProtectionError) as caught:
        message.send()
    assert caught.value.filename == "należności.csv"
    assert "należności.csv" in str(caught.value) and "rot13" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert_failed_and_logged(smtp_server, reason="rot13")


def test_unknown_zip_encryption_with_fail_silently(protected_config, smtp_server, settings):
    settings.SYMFONIA_MAIL = {"ZIP_ENCRYPTION": "rot13"}
    assert failing_message().send(fail_silently=True) == 0
    assert_failed_and_logged(smtp_server, reason="rot13")


def test_library_failure_sends_nothing(protected_config, smtp_server, monkeypatch):
    # Forced failure (a mock): pyzipper fails on no input we can build, so its
    # write raises here, quoting the password the way a careless library might.
    def broken_writestr(self, *args, **kwargs):
        raise OSError(f"disk full while writing with {PASSWORD}")

    monkeypatch.setattr(pyzipper.AESZipFile, "writestr", broken_writestr)
    with pytest.raises(AttachmentProtectionError) as caught:
        failing_message().send()
    assert PASSWORD not in str(caught.value)
    assert_failed_and_logged(smtp_server, reason="OSError")
