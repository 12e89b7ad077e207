"""ConfiguredEmailBackend against real SMTP servers on 127.0.0.1."""

import io
import logging
import smtplib
import socket
import threading
import time

import pytest
from django.core import mail
from django.core.mail import EmailMessage, get_connection, send_mail

from symfonia_mail import mail_context
from symfonia_mail.compat import mailers_configured
from symfonia_mail.exceptions import InvalidMessageError, RecipientsRefused
from symfonia_mail.models import GlobalMailConfig, MailLog

from .conftest import save_global

pytestmark = pytest.mark.django_db



def test_send_mail_goes_through_the_global_configuration(global_config, smtp_server):
    with mail_context(numer="FV/12/2026", kontrahent="ACME sp. z o.o."):
        sent = send_mail("Faktura {numer}", "Dzień dobry, {kontrahent} {firma}", None,
                         ["client@example.com"])
    assert sent == 1
    [received] = smtp_server.messages
    assert received.tls is True
    assert received.login == "mailer"
    assert received.mail_from == "biuro@firma.example"
    assert received.rcpt_tos == ["client@example.com"]
    assert received.message["From"] == "Biuro Firma <biuro@firma.example>"
    assert received.message["Subject"] == "Faktura FV/12/2026"
    body = received.message.get_content()
    assert "Dzień dobry, ACME sp. z o.o. Firma Testowa sp. z o.o." in body
    log = MailLog.objects.get()
    assert log.status == "sent"
    assert log.scope == "global" and log.config_user is None
    assert log.sender == "biuro@firma.example"
    assert log.recipients == "client@example.com"
    assert log.subject == "Faktura FV/12/2026"
    assert log.message_id == received.message["Message-ID"]


def test_explicit_sender_is_kept(global_config, smtp_server):
    send_mail("s", "b", "Kasia <kasia@firma.example>", ["client@example.com"])
    [received] = smtp_server.messages
    assert received.message["From"] == "Kasia <kasia@firma.example>"
    assert received.mail_from == "kasia@firma.example"


def test_default_cc_and_bcc_are_merged_without_duplicates(smtp_server):
    save_global(smtp_server, cc="Kopia <kopia@firma.example>, szef@firma.example",
               bcc="archiwum@firma.example")
    msg = EmailMessage("s", "b", to=["client@example.com"], cc=["SZEF@firma.example"])
    assert msg.send() == 1
    [received] = smtp_server.messages
    assert sorted(received.rcpt_tos) == sorted([
        "client@example.com", "SZEF@firma.example", "kopia@firma.example",
        "archiwum@firma.example",
    ])
    assert received.message["Cc"] == "SZEF@firma.example, Kopia <kopia@firma.example>"
    assert received.message["Bcc"] is None
    assert b"archiwum" not in received.data
    assert msg.cc == ["SZEF@firma.example"] and msg.bcc == []  # caller's message untouched


@pytest.mark.parametrize(("dsn_notify", "notify"), [
    ("OnSuccess", "SUCCESS"),
    ("OnFailure", "FAILURE"),
    ("Delay", "DELAY"),
    ("OnSuccess,OnFailure,Delay", "SUCCESS,FAILURE,DELAY"),
    ("Never", "NEVER"),
])
def test_dsn_parameters_reach_the_server(smtp_server, dsn_notify, notify):
    save_global(smtp_server, dsn_notify=dsn_notify)
    send_mail("s", "b", None, ["a@example.com", "b@example.com"])
    [received] = smtp_server.messages
    assert received.param("RET") == "HDRS"
    envid = received.param("ENVID")
    assert envid
    for rcpt in ("a@example.com", "b@example.com"):
        assert received.param("NOTIFY", rcpt) == notify
    log = MailLog.objects.get()
    assert log.dsn_requested == notify
    assert log.envelope_id.upper() == envid  # aiosmtpd upper-cases parameter values


@pytest.mark.parametrize("dsn_notify", ["", "None"])
def test_no_dsn_parameters_when_none_requested(smtp_server, dsn_notify):
    save_global(smtp_server, dsn_notify=dsn_notify)
    send_mail("s", "b", None, ["a@example.com"])
    [received] = smtp_server.messages
    assert [o for o in received.mail_options if not o.startswith("SIZE=")] == []
    assert received.rcpt_options == {"a@example.com": []}


def test_dsn_requested_but_not_offered_sends_without_and_says_so(make_smtp_server):
    server = make_smtp_server(tls="starttls", users={"u": "p4ss"}, dsn=False)
    save_global(server, username="u", password="p4ss", dsn_notify="OnFailure")
    assert send_mail("s", "b", None, ["a@example.com"]) == 1
    [received] = server.messages
    assert received.param("RET") is None and received.param("ENVID") is None
    assert received.rcpt_options == {"a@example.com": []}
    log = MailLog.objects.get()
    assert log.status == "sent" and log.dsn_requested == ""
    assert "does not offer DSN" in log.note


def test_implicit_tls(make_smtp_server):
    server = make_smtp_server(tls="ssl", users={"u": "p4ss"})
    save_global(server, security="ssl", username="u", password="p4ss")
    assert send_mail("s", "b", None, ["a@example.com"]) == 1
    [received] = server.messages
    assert received.tls and received.login == "u"


def test_starttls_required_but_not_offered_fails_instead_of_plain_text(make_smtp_server):
    server = make_smtp_server(tls=None, dsn=False)
    save_global(server, username="", password="")
    with pytest.raises(smtplib.SMTPNotSupportedError):
        send_mail("s", "b", None, ["a@example.com"])
    assert server.messages == []
    log = MailLog.objects.get()
    assert log.status == "failed" and "STARTTLS" in log.error


def test_untrusted_certificate_is_refused_unless_verification_is_off(make_smtp_server):
    import trustme

    other_ca = trustme.CA()
    server = make_smtp_server(tls="starttls", users={"u": "p4ss"},
                              certificate=other_ca.issue_cert("127.0.0.1"))
    save_global(server, username="u", password="p4ss")
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
        send_mail("s", "b", None, ["a@example.com"])
    assert server.messages == []
    save_global(server, username="u", password="p4ss", verify_certificate=False)
    assert send_mail("s", "b", None, ["a@example.com"]) == 1


def test_partly_refused_recipients_are_reported_not_dropped(make_smtp_server):
    server = make_smtp_server(users={"u": "p4ss"},
                              refuse_rcpt={"nobody@example.com": "550 5.1.1 No such user"})
    save_global(server, username="u", password="p4ss")
    with pytest.raises(RecipientsRefused) as caught:
        send_mail("s", "b", None, ["a@example.com", "nobody@example.com"])
    assert "nobody@example.com" in str(caught.value)
    assert isinstance(caught.value, smtplib.SMTPException)
    assert server.messages[0].rcpt_tos == ["a@example.com"]
    log = MailLog.objects.get()
    assert log.status == "partial"
    assert "nobody@example.com (550 5.1.1 No such user)" in log.refused_recipients

    # fail_silently keeps Django's meaning: no exception, but the log tells.
    assert send_mail("s", "b", None, ["a@example.com", "nobody@example.com"],
                     fail_silently=True) == 1
    assert MailLog.objects.filter(status="partial").count() == 2


def test_all_recipients_refused_is_a_failure(make_smtp_server):
    server = make_smtp_server(users={"u": "p4ss"},
                              refuse_rcpt={"nobody@example.com": "550 5.1.1 No such user"})
    save_global(server, username="u", password="p4ss")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_mail("s", "b", None, ["nobody@example.com"])
    log = MailLog.objects.get()
    assert log.status == "failed" and "nobody@example.com" in log.refused_recipients
    assert server.messages == []


def _dead_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dead_port_raises_and_logs(db, smtp_server):
    save_global(smtp_server, port=_dead_port())
    with pytest.raises(ConnectionRefusedError):
        send_mail("s", "b", None, ["a@example.com"])
    assert MailLog.objects.get().status == "failed"
    assert send_mail("s", "b", None, ["a@example.com"], fail_silently=True) == 0
    assert MailLog.objects.filter(status="failed").count() == 2


def test_silent_server_times_out_within_timeout_ms(db, smtp_server):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        save_global(smtp_server, port=listener.getsockname()[1], timeout_ms=300)
        started = time.monotonic()
        # smtplib reports a read timeout as SMTPServerDisconnected("... timed out").
        with pytest.raises((TimeoutError, smtplib.SMTPServerDisconnected), match="timed out"):
            send_mail("s", "b", None, ["a@example.com"])
        assert time.monotonic() - started < 3
    finally:
        listener.close()
    assert "timed out" in MailLog.objects.get().error


def test_one_connection_failure_fails_the_batch_fast_without_a_second_login(make_smtp_server):
    server = make_smtp_server(users={"u": "right-pass"})
    save_global(server, username="u", password="wrong-pass")
    messages = [EmailMessage("s", "b", to=[f"r{i}@example.com"]) for i in range(3)]
    assert get_connection(fail_silently=True).send_messages(messages) == 0
    assert server.login_attempts == 1
    assert MailLog.objects.filter(status="failed").count() == 3


def test_password_never_leaks(make_smtp_server, caplog):
    secret = "Very-S3cret-Pass"
    server = make_smtp_server(users={"u": "other"}, auth_failure=f"535 5.7.8 bad {secret}")
    config = save_global(server, username="u", password=secret, attachment_password="Att-Secret")
    caplog.set_level(logging.DEBUG, logger="symfonia_mail")
    with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
        send_mail("s", "b", None, ["a@example.com"])
    from symfonia_mail.config.resolver import resolve
    from symfonia_mail.smtp.connection import SmtpConnection

    log = MailLog.objects.get()
    texts = [log.error, log.note, caplog.text, repr(resolve()), repr(config),
             repr(SmtpConnection(resolve()))]
    for text in texts:
        assert secret not in text
        assert "Att-Secret" not in text
    assert "***" in log.error  # the server echoed it; we redacted it
    assert caught.value.smtp_code == 535


def test_bad_subject_is_refused_clearly_and_logged(global_config, smtp_server):
    with mail_context(kontrahent="ACME\r\nBcc: victim@example.com"):
        with pytest.raises(InvalidMessageError, match="line break"):
            send_mail("Dla {kontrahent}", "b", None, ["a@example.com"])
    with pytest.raises(InvalidMessageError):
        send_mail("vertical\x0btab", "b", None, ["a@example.com"], fail_silently=True)
    assert smtp_server.messages == []
    assert MailLog.objects.filter(status="failed").count() == 2


def test_system_transport_hands_over_unchanged(smtp_server, settings):
    settings.SYMFONIA_MAIL = {"SYSTEM_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    save_global(smtp_server, transport="system", cc="kopia@firma.example", dsn_notify="OnSuccess")
    mail.outbox = []
    with mail_context(numer="7"):
        assert send_mail("Nr {numer}", "b", None, ["a@example.com"]) == 1
    [handed] = mail.outbox
    assert handed.subject == "Nr 7"
    assert handed.cc == [] and handed.from_email == settings.DEFAULT_FROM_EMAIL
    assert smtp_server.messages == []
    log = MailLog.objects.get()
    assert log.status == "sent" and log.transport == "system"
    assert log.message_id and log.message_id == handed.message()["Message-ID"]


def test_connection_reused_for_a_batch(global_config, smtp_server):
    messages = [EmailMessage(f"m{i}", "b", to=[f"r{i}@example.com"]) for i in range(5)]
    with get_connection() as connection:
        assert connection.send_messages(messages[:3]) == 3
        assert connection.send_messages(messages[3:]) == 2
    assert len(smtp_server.messages) == 5
    assert smtp_server.login_attempts == 1
    assert MailLog.objects.filter(status="sent").count() == 5


def test_contexts_do_not_leak_between_threads(db, global_config):
    from django.contrib.auth.models import User

    from symfonia_mail.context import current_user

    users = [User.objects.create(username=f"t{i}") for i in range(2)]
    seen = {}
    barrier = threading.Barrier(2)

    def worker(user):
        with mail_context(user=user):
            barrier.wait()
            seen[user.username] = current_user()

    threads = [threading.Thread(target=worker, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert seen == {"t0": users[0], "t1": users[1]}
    assert current_user() is None


def test_a_polish_password_logs_in(make_smtp_server):
    # smtplib alone encodes credentials as ASCII and cannot send this password at all.
    server = make_smtp_server(users={"księgowa": "zażółć-gęślą-jaźń"})
    save_global(server, username="księgowa", password="zażółć-gęślą-jaźń")
    assert send_mail("s", "b", None, ["a@example.com"]) == 1
    assert server.messages[0].login == "księgowa"


def test_messages_after_a_failure_are_logged_as_not_attempted(make_smtp_server):
    server = make_smtp_server(users={"u": "p4ss"},
                              refuse_rcpt={"nobody@example.com": "550 5.1.1 No such user"})
    save_global(server, username="u", password="p4ss")
    messages = [EmailMessage("first", "b", to=["a@example.com"]),
                EmailMessage("second", "b", to=["nobody@example.com"]),
                EmailMessage("third", "b", to=["c@example.com"])]
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        get_connection().send_messages(messages)
    assert [m.rcpt_tos for m in server.messages] == [["a@example.com"]]
    logs = {log.subject: log for log in MailLog.objects.all()}
    assert logs["first"].status == "sent"
    assert logs["second"].status == "failed"
    assert logs["third"].status == "failed"
    assert logs["third"].error.startswith("Not attempted")
    assert logs["third"].recipients == "c@example.com"


def test_error_reports_never_show_the_passwords(smtp_server, settings):
    """Django's error e-mails and DEBUG pages print local variables of every frame."""
    import sys

    from django.views.debug import ExceptionReporter

    settings.DEBUG = False
    save_global(smtp_server, port=_dead_port(), attachment_password="Attach-Secret-77")
    try:
        send_mail("x", "y", None, ["a@example.com"])
    except OSError:
        exc_info = sys.exc_info()
    html = ExceptionReporter(None, *exc_info, is_email=True).get_traceback_html()
    assert "s3cret-Pa55" not in html and "Attach-Secret-77" not in html
    assert "********" in html  # Django's mark for a hidden variable


def test_file_alternatives_are_protected_like_attachments(smtp_server):
    """A PDF or a text/calendar given as an alternative is a file: it must not leave bare."""
    import pikepdf
    from django.core.mail import EmailMultiAlternatives

    save_global(smtp_server, attachment_password="Zał-Hasło-1")
    pdf = io_pdf()
    msg = EmailMultiAlternatives("Faktura", "w załączniku", to=["client@example.com"])
    msg.attach_alternative("<p>Faktura</p>", "text/html")
    msg.attach_alternative(pdf, "application/pdf")
    msg.attach_alternative("BEGIN:VCALENDAR\nSECRET-CONTENT\nEND:VCALENDAR\n", "text/calendar")
    assert msg.send() == 1
    received = smtp_server.messages[0]
    assert b"SECRET-CONTENT" not in received.data
    parts = {p.get_filename(): p for p in received.message.iter_attachments()}
    assert set(parts) == {"alternative-1.pdf", "alternative-2.ics.zip"}
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(parts["alternative-1.pdf"].get_content()))
    assert pikepdf.open(io.BytesIO(parts["alternative-1.pdf"].get_content()),
                        password="Zał-Hasło-1")
    html = received.message.get_body(("html",))
    assert "Faktura" in html.get_content()  # the HTML body stays a body


def io_pdf():
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page()
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()


def test_system_route_over_django_smtp_reports_refused_recipients(make_smtp_server, settings):
    server = make_smtp_server(tls=None, dsn=False,
                              refuse_rcpt={"bad@example.com": "550 5.1.1 No such user"})
    if mailers_configured():  # Django 6.1: the system route is a MAILERS alias
        settings.MAILERS = {**settings.MAILERS, "system": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": server.host, "port": server.port}}}
        settings.SYMFONIA_MAIL = {"SYSTEM_BACKEND": "system"}
    else:
        settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    config = GlobalMailConfig.get_solo()
    config.transport = "system"
    config.save()
    with pytest.raises(RecipientsRefused):
        send_mail("x", "y", None, ["good@example.com", "bad@example.com"])
    assert server.messages[0].rcpt_tos == ["good@example.com"]
    log = MailLog.objects.get()
    assert log.status == "partial" and "bad@example.com" in log.refused_recipients
    assert log.message_id == server.messages[0].message["Message-ID"]
