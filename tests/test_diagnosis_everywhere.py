"""The same plain-language diagnosis in exceptions and MailLog as in Test SMTP (issue 10 item 4)."""

import pytest
from django.core.mail import EmailMessage, send_mail
from django.utils import translation

from symfonia_mail.exceptions import RecipientsRefused
from symfonia_mail.models import GlobalMailConfig, MailLog
from symfonia_mail.problems import CODES, HELP_URLS

from .conftest import config_values

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """Hints follow the active language (the test settings default to Polish)."""
    with translation.override("en"):
        yield

GMAIL_534 = (
    "534-5.7.9 Application-specific password required. Learn more at\r\n"
    "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor d2sm1234567wrb.1 - gsmtp"
)
MICROSOFT_535 = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
MICROSOFT_550 = "550 5.7.30 Basic authentication is not supported for Client Submission."


def configure(server, **overrides):
    config = GlobalMailConfig.get_solo()
    for name, value in config_values(server, **overrides).items():
        setattr(config, name, value)
    config.save()


def assert_plain(text):
    """No Python repr of a reply: no bytes literal, no (code, b'...') tuple."""
    assert "b'" not in text and 'b"' not in text and "(534," not in text
    assert "(535," not in text and "(550," not in text


@pytest.mark.parametrize(("reply", "expected", "code"), [
    (GMAIL_534, "534 5.7.9 Application-specific password required",
     "app_password_required_gmail"),
    (MICROSOFT_535, "535 5.7.139 Authentication unsuccessful",
     "app_password_required_microsoft"),
    (MICROSOFT_550, "550 5.7.30 Basic authentication is not supported",
     "app_password_required_microsoft"),
])
def test_login_refusals_carry_the_reply_and_the_app_password_hint(
        make_smtp_server, reply, expected, code):
    link = HELP_URLS[code]
    server = make_smtp_server(tls="starttls", users={"mailer": "right"}, auth_failure=reply)
    configure(server, password="normal-password")
    with pytest.raises(Exception) as caught:
        send_mail("s", "b", None, ["a@example.com"])
    text = str(caught.value)
    assert expected in text and link in text and str(CODES[code]) in text
    assert_plain(text)
    row = MailLog.objects.get()
    assert row.status == MailLog.Status.FAILED
    assert expected in row.error and link in row.error
    assert_plain(row.error)


def test_partial_refusal_lists_each_refused_recipient_with_its_own_reply(make_smtp_server):
    server = make_smtp_server(tls="starttls", users={"mailer": "pw-123456"}, refuse_rcpt={
        "zly@example.com": "550 5.1.1 <zly@example.com>: user unknown",
        "pelna@example.com": "452 4.2.2 <pelna@example.com>: mailbox full",
    })
    configure(server)
    message = EmailMessage("s", "b", to=["ok@example.com", "zly@example.com"],
                           cc=["pelna@example.com"])
    with pytest.raises(RecipientsRefused) as caught:
        message.send()
    text = str(caught.value)
    for expected in ("zly@example.com (550 5.1.1 <zly@example.com>: user unknown)",
                     "pelna@example.com (452 4.2.2 <pelna@example.com>: mailbox full)"):
        assert expected in text
    assert "refused a recipient" in text  # the hint Test SMTP gives
    assert_plain(text)
    row = MailLog.objects.get()
    assert row.status == MailLog.Status.PARTIAL
    assert "550 5.1.1 <zly@example.com>: user unknown" in row.refused_recipients
    assert "452 4.2.2 <pelna@example.com>: mailbox full" in row.error
    assert "refused a recipient" in row.error
    assert_plain(row.error)


def test_all_refused_is_a_recipients_refused_with_the_replies(make_smtp_server):
    server = make_smtp_server(tls="starttls", users={"mailer": "pw-123456"}, refuse_rcpt={
        "zly@example.com": "550 5.1.1 <zly@example.com>: user unknown"})
    configure(server)
    with pytest.raises(RecipientsRefused) as caught:
        send_mail("s", "b", None, ["zly@example.com"])
    assert not caught.value.delivered
    assert "550 5.1.1 <zly@example.com>: user unknown" in str(caught.value)
    row = MailLog.objects.get()
    assert row.status == MailLog.Status.FAILED
    assert "550 5.1.1 <zly@example.com>: user unknown" in row.error
    assert_plain(row.error)


def test_refused_sender_and_message_are_plain_text(make_smtp_server):
    server = make_smtp_server(tls="starttls", users={"mailer": "pw-123456"}, refuse_sender={
        "biuro@firma.example": "553 5.7.1 Sender address rejected: not owned by user"})
    configure(server)
    with pytest.raises(Exception) as caught:
        send_mail("s", "b", None, ["a@example.com"])
    assert str(caught.value).startswith("553 5.7.1 Sender address rejected")
    assert "refused the sender" in str(caught.value)
    assert MailLog.objects.get().error.startswith("553 5.7.1 Sender address rejected")
