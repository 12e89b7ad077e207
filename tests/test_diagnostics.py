"""Test SMTP (symfonia_mail.diagnostics) against real servers on 127.0.0.1."""

import base64
import smtplib
import socket
import ssl

import pytest
import trustme
from django.contrib import messages
from django.core import mail
from django.utils import translation

from symfonia_mail.config.resolver import from_model
from symfonia_mail.diagnostics import smtp_test as diagnostics
from symfonia_mail.diagnostics.smtp_test import classify, run_smtp_test
from symfonia_mail.exceptions import RecipientsRefused, UnreadableSecretError
from symfonia_mail.fields import UnreadableSecret
from symfonia_mail.models import GlobalMailConfig, MessageTemplate, UserMailConfig

from .conftest import config_values
from .smtpd import SilentServer, dead_port

pytestmark = pytest.mark.django_db

GMAIL_534 = (
    "534-5.7.9 Application-specific password required. Learn more at\r\n"
    "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor d2sm1234567wrb.1 - gsmtp"
)
MICROSOFT_535 = (
    "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be "
    "authenticated successfully. Contact your administrator."
)
MICROSOFT_550 = "550 5.7.30 Basic authentication is not supported for Client Submission."


def unsaved(server=None, **overrides):
    """Return an unsaved GlobalMailConfig (as the admin's form values) for *server*."""
    values = config_values(server) if server is not None else {
        "transport": "smtp", "host": "127.0.0.1", "port": dead_port(), "security": "none",
        "timeout_ms": 2000, "sender_email": "biuro@firma.example",
    }
    values.update(overrides)
    return GlobalMailConfig(**values)


def run(instance, **kwargs):
    return run_smtp_test(from_model(instance), language="en", **kwargs)


def names(report):
    return [step.name for step in report.steps]


def all_text(report):
    """Everything a person can see of a report."""
    return "\n".join([report.summary(), str(report.as_html()), repr(report), *(
        f"{s.detail} {s.reply} {s.hint}" for s in report.steps)])


@pytest.fixture(autouse=True)
def _english():
    """Hints are lazy: read them in English, whatever the .po files say."""
    with translation.override("en"):
        yield


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def untrusted_cert():
    """A certificate from a second CA that SSL_CERT_FILE does not trust."""
    return trustme.CA().issue_cert("127.0.0.1", "localhost")


# --- the happy path -------------------------------------------------------------


def test_happy_path_starttls_auth_dsn_reports_every_step(smtp_server, global_config):
    global_config.cc = "ksiegowosc@firma.example"
    global_config.bcc = "archiwum@firma.example, BIURO@firma.example"  # a duplicate of From
    global_config.dsn_notify = "OnSuccess,OnFailure"
    report = run(global_config)

    assert report.ok, report.summary()
    assert report.level == messages.SUCCESS
    assert names(report) == [
        "connect", "ehlo", "starttls", "login", "dsn", "mail_from", "rcpt_to", "data"]
    assert all(step.status == "ok" and step.duration_ms >= 0 for step in report.steps)
    steps = {step.name: step for step in report.steps}
    assert steps["connect"].reply.startswith("220 ")
    assert "STARTTLS" in steps["ehlo"].reply
    assert "TLSv1." in steps["starttls"].detail
    assert steps["login"].detail.split(",")[0] in ("PLAIN", "LOGIN")
    assert steps["login"].reply.startswith("235 ")
    assert "NOTIFY=SUCCESS,FAILURE" in steps["dsn"].detail
    assert steps["data"].reply.startswith("250 ")
    assert report.accepted == [
        "biuro@firma.example", "ksiegowosc@firma.example", "archiwum@firma.example"]
    assert report.refused == {}

    # It really went over the connection under test, with the DSN parameters.
    [received] = smtp_server.messages
    assert received.tls and received.login == "mailer"
    assert received.mail_from == "biuro@firma.example"
    assert received.rcpt_tos == report.accepted
    assert received.param("RET") == "HDRS"
    assert received.param("ENVID") == report.envelope_id.upper()  # aiosmtpd upper-cases
    for rcpt in received.rcpt_tos:
        assert received.param("NOTIFY", rcpt) == "SUCCESS,FAILURE"
    message = received.message
    assert message["From"] == "Biuro Firma <biuro@firma.example>"
    assert message["Cc"] == "ksiegowosc@firma.example"
    assert message["Bcc"] is None
    assert message["Message-ID"] == report.message_id
    # The built-in "test" template, with the company of the configuration under test.
    assert message["Subject"] == "Test message – Firma Testowa sp. z o.o."
    text = message.get_body(("plain",)).get_content()
    assert "Firma Testowa sp. z o.o." in text and "{" not in text

    summary = report.summary()
    assert summary.splitlines()[0].startswith("Test SMTP of 127.0.0.1:")
    for label in ("Connect", "STARTTLS", "Login", "Delivery notifications (DSN)",
                  "Recipients (RCPT TO)", "Message (DATA)"):
        assert label in summary
    assert smtp_server.password not in all_text(report)


def test_unsaved_form_values_are_tested_and_nothing_is_saved(smtp_server, global_config):
    before = GlobalMailConfig.objects.values().get()
    form_values = unsaved(smtp_server, pk=1, company_name="Nowa Nazwa S.A.",
                          sender_email="nowy@firma.example")
    report = run(form_values)

    assert report.ok, report.summary()
    assert GlobalMailConfig.objects.values().get() == before
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["nowy@firma.example"]
    assert "Nowa Nazwa S.A." in received.message["Subject"]


def test_stored_test_template_is_used_with_macros(smtp_server, global_config):
    MessageTemplate.objects.create(key="test", subject="Próba {firma}",
                                   body="Wysłał: {wysyłający}")
    report = run(global_config)
    assert report.ok, report.summary()
    message = smtp_server.messages[0].message
    assert message["Subject"] == "Próba Firma Testowa sp. z o.o."
    assert message.get_content().strip() == "Wysłał: Biuro Firma"


def test_user_configuration_is_tested_as_given(smtp_server, django_user_model):
    user = django_user_model.objects.create_user("ania", first_name="Anna", last_name="Nowak")
    row = UserMailConfig(user=user, scope="individual",
                         **config_values(smtp_server, sender_email="ania@firma.example"))
    report = run_smtp_test(from_model(row, company_name="Firma"), user=user, language="en")
    assert report.ok, report.summary()
    assert smtp_server.messages[0].rcpt_tos == ["ania@firma.example"]
    assert not UserMailConfig.objects.exists()


def test_dsn_not_advertised_is_a_warning_and_the_message_goes_without_it(make_smtp_server):
    server = make_smtp_server(tls="starttls", users={"mailer": "pw-123456"}, dsn=False)
    report = run(unsaved(server, dsn_notify="OnFailure,Delay"))
    assert report.ok
    assert report.level == messages.WARNING
    dsn = report.steps[names(report).index("dsn")]
    assert (dsn.status, dsn.code) == ("warning", "dsn_not_offered")
    [received] = server.messages
    assert received.mail_options == [] and received.param("NOTIFY", "biuro@firma.example") is None


def test_dsn_not_requested_is_skipped(smtp_server):
    report = run(unsaved(smtp_server, dsn_notify="None"))
    dsn = report.steps[names(report).index("dsn")]
    assert dsn.status == "skipped" and "advertises DSN" in dsn.detail
    assert smtp_server.messages[0].mail_options == []


def test_never_maps_to_notify_never(smtp_server):
    report = run(unsaved(smtp_server, dsn_notify="Never"))
    assert report.ok
    received = smtp_server.messages[0]
    assert received.param("NOTIFY", "biuro@firma.example") == "NEVER"


def test_implicit_tls_happy_path(make_smtp_server):
    server = make_smtp_server(tls="ssl", users={"mailer": "pw-123456"})
    report = run(unsaved(server, security="ssl"))
    assert report.ok, report.summary()
    assert "starttls" not in names(report)
    assert "TLSv1." in report.steps[0].detail
    assert server.messages[0].tls


def test_without_user_name_login_is_skipped(make_smtp_server):
    server = make_smtp_server(tls=None)
    report = run(unsaved(server, security="none", username="", password=""))
    assert report.ok, report.summary()
    login = report.steps[names(report).index("login")]
    assert login.status == "skipped"


# --- connection failures ----------------------------------------------------------


def test_dead_port_is_connection_refused(db):
    port = dead_port()
    report = run(unsaved(port=port))
    assert not report.ok
    assert report.level == messages.ERROR
    assert names(report) == ["connect"]
    assert report.steps[0].detail == f"127.0.0.1:{port}"
    assert report.code == "connection_refused"
    assert "port" in str(report.hint)
    assert "Connection refused" in report.steps[0].reply


def test_unknown_host_name_is_dns_not_found(db):
    # .invalid never resolves (RFC 2606), so this fails locally without any network.
    report = run(unsaved(host="nonexistent.invalid", port=587))
    assert report.code == "dns_not_found"
    assert "DNS" in str(report.hint)


def test_silent_server_times_out_after_the_configured_timeout(silent_server):
    report = run(unsaved(silent_server, security="none", timeout_ms=300))
    assert report.code == "timeout"
    step = report.steps[0]
    assert step.name == "connect"
    assert 250 <= step.duration_ms < 3000
    assert "SSL/TLS from the start" in str(step.hint)


def test_silent_port_465_without_ssl_is_tls_mismatch(db):
    try:
        listener = socket.create_server(("127.0.0.1", 465))
    except OSError:
        pytest.skip("cannot listen on 127.0.0.1:465 here (not root, or in use)")
    try:
        report = run(unsaved(port=465, security="starttls", timeout_ms=300))
    finally:
        listener.close()
    assert report.code == "tls_mismatch"
    assert "465" in str(report.hint)


def test_ssl_config_against_plain_server_is_tls_mismatch(make_smtp_server):
    server = make_smtp_server(tls=None)
    report = run(unsaved(server, security="ssl", username="", password=""))
    assert report.code == "tls_mismatch"
    assert "WRONG_VERSION_NUMBER" in report.steps[0].reply
    assert "465" in str(report.hint)


def test_ssl_config_against_starttls_port_is_tls_mismatch(smtp_server):
    report = run(unsaved(smtp_server, security="ssl"))
    assert report.code == "tls_mismatch"


def test_starttls_config_against_implicit_tls_port_times_out(make_smtp_server):
    # The client waits for "220", the server for a TLS ClientHello.
    server = make_smtp_server(tls="ssl", users={"mailer": "pw-123456"})
    report = run(unsaved(server, security="starttls", timeout_ms=400))
    assert report.code == "timeout"
    assert "SSL/TLS from the start" in str(report.hint)


@pytest.mark.parametrize("tls", ["ssl", "starttls"])
def test_untrusted_certificate(make_smtp_server, untrusted_cert, tls):
    server = make_smtp_server(tls=tls, certificate=untrusted_cert,
                              users={"mailer": "pw-123456"})
    report = run(unsaved(server, security=tls))
    assert report.code == "certificate_not_trusted"
    assert "CERTIFICATE_VERIFY_FAILED" in report.failure.reply
    assert server.login_attempts == 0 and server.messages == []


def test_certificate_for_another_name_is_not_trusted(make_smtp_server, tls_ca):
    server = make_smtp_server(tls="ssl", certificate=tls_ca.issue_cert("mail.example.com"))
    report = run(unsaved(server, security="ssl", username="", password=""))
    assert report.code == "certificate_not_trusted"
    assert "mismatch" in report.failure.reply.lower()


def test_untrusted_certificate_accepted_when_verification_is_off(make_smtp_server,
                                                                   untrusted_cert):
    server = make_smtp_server(tls="starttls", certificate=untrusted_cert,
                              users={"mailer": "pw-123456"})
    report = run(unsaved(server, verify_certificate=False))
    assert report.ok, report.summary()
    assert "certificate not verified" in report.steps[names(report).index("starttls")].detail


def test_starttls_not_offered_fails_without_falling_back(make_smtp_server):
    server = make_smtp_server(tls=None)
    report = run(unsaved(server, security="starttls", username="", password=""))
    assert names(report) == ["connect", "ehlo", "starttls"]
    assert report.code == "starttls_not_offered"
    assert server.messages == []


# --- login failures ----------------------------------------------------------------


def test_wrong_password_is_login_refused_after_one_attempt(make_smtp_server):
    server = make_smtp_server(tls="starttls", users={"mailer": "right-password"})
    report = run(unsaved(server, password="wrong-password"))
    assert report.code == "login_refused"
    assert report.failure.name == "login"
    assert report.failure.detail in ("PLAIN, mailer", "LOGIN, mailer")
    assert report.failure.reply.startswith("535 ")
    # One mechanism only: smtplib.login() would have tried PLAIN and then LOGIN.
    assert server.login_attempts == 1
    assert "app password" in str(report.hint)


def test_gmail_534_asks_for_an_app_password(make_smtp_server):
    server = make_smtp_server(tls="starttls", users={"mailer": "right"}, auth_failure=GMAIL_534)
    report = run(unsaved(server, password="normal-password"))
    assert report.code == "app_password_required_gmail"
    step = report.failure
    assert step.help_url == "https://support.google.com/accounts/answer/185833"
    assert "two-step verification" in str(step.hint)
    assert "Application-specific password required" in step.reply
    assert len(step.reply.splitlines()) == 2  # the multi-line reply, both lines
    html = str(report.as_html())
    assert 'href="https://support.google.com/accounts/answer/185833"' in html
    assert "Learn more at<br>5.7.9" in html and "&lt;br&gt;" not in html


@pytest.mark.parametrize("reply", [MICROSOFT_535, MICROSOFT_550])
def test_microsoft_basic_auth_refusals_ask_for_an_app_password(make_smtp_server, reply):
    server = make_smtp_server(tls="starttls", users={"mailer": "right"}, auth_failure=reply)
    report = run(unsaved(server, password="normal-password"))
    assert report.code == "app_password_required_microsoft"
    assert report.failure.help_url == diagnostics.MICROSOFT_HELP
    assert "two-step verification" in str(report.hint)
    assert diagnostics.MICROSOFT_HELP in str(report.as_html())


def test_password_echoed_by_the_server_never_appears(make_smtp_server):
    password = "Echo-Me-9876"
    plain_blob = base64.b64encode(f"\0mailer\0{password}".encode()).decode()
    echo = f"535-5.7.8 you sent {password}\r\n535 5.7.8 as {plain_blob}"
    server = make_smtp_server(tls="starttls", users={"mailer": "right"}, auth_failure=echo)
    report = run(unsaved(server, password=password))
    assert report.code == "login_refused"
    text = all_text(report)
    assert password not in text and plain_blob not in text
    assert "********" in report.failure.reply


def test_non_ascii_password_is_named_not_leaked(make_smtp_server):
    password = "zażółć-Pa55"
    server = make_smtp_server(tls="starttls", users={"mailer": password})
    report = run(unsaved(server, password=password))
    text = all_text(report)
    assert password not in text and "żółć" not in text
    # smtplib encodes AUTH PLAIN/LOGIN as ASCII (Python 3.11), so the login fails on
    # the client before anything is sent; were smtp.py to send UTF-8 (RFC 4616), it
    # would pass. Either way the report must not call it a network error.
    if not report.ok:
        assert report.code == "non_ascii_text"
        assert server.login_attempts == 0


def test_login_not_offered_on_a_plain_connection(make_smtp_server):
    # aiosmtpd, like most servers, offers AUTH only after TLS.
    server = make_smtp_server(tls=None, users={"mailer": "pw-123456"})
    report = run(unsaved(server, security="none"))
    assert report.code == "auth_not_offered"
    assert report.failure.name == "login"


def test_unreadable_stored_password_stops_before_connecting(silent_server):
    config = unsaved(silent_server, username="mailer",
                     password=UnreadableSecret("gAAAAAB-not-for-this-key"))
    report = run(config)
    assert names(report) == ["configuration"]
    assert report.code == "unreadable_password"
    assert "FIELD_ENCRYPTION_KEY" in str(report.hint)
    assert "gAAAAAB" not in all_text(report)


def test_incomplete_configuration(db):
    report = run(unsaved(host=""))
    assert report.code == "configuration_incomplete"


# --- refused sender and recipients -------------------------------------------------


def test_refused_recipient_is_listed_and_the_others_still_get_the_message(make_smtp_server):
    server = make_smtp_server(
        tls="starttls", users={"mailer": "pw-123456"},
        refuse_rcpt={"zly@firma.example": "550 5.1.1 <zly@firma.example>: User unknown"})
    report = run(unsaved(server, cc="zly@firma.example", bcc="archiwum@firma.example"))
    assert not report.ok
    assert report.code == "recipient_refused"
    assert report.refused == {"zly@firma.example": "550 5.1.1 <zly@firma.example>: User unknown"}
    assert report.accepted == ["biuro@firma.example", "archiwum@firma.example"]
    assert names(report)[-2:] == ["rcpt_to", "data"]
    assert report.steps[-1].ok
    assert server.messages[0].rcpt_tos == report.accepted
    # The server's text is escaped in the admin message.
    assert "&lt;zly@firma.example&gt;" in str(report.as_html())


def test_all_recipients_refused_sends_nothing(make_smtp_server):
    server = make_smtp_server(
        tls="starttls", users={"mailer": "pw-123456"},
        refuse_rcpt={"biuro@firma.example": "550 5.7.1 Relaying denied"})
    report = run(unsaved(server))
    assert report.code == "recipient_refused"
    assert names(report)[-1] == "rcpt_to"
    assert server.messages == []


def test_refused_sender(make_smtp_server):
    server = make_smtp_server(
        tls="starttls", users={"mailer": "pw-123456"},
        refuse_sender={"biuro@firma.example": "553 5.7.1 Sender address rejected: not yours"})
    report = run(unsaved(server))
    assert report.code == "sender_refused"
    assert report.failure.name == "mail_from"
    assert report.failure.reply.startswith("553 5.7.1")
    assert server.messages == []


def test_server_reply_is_escaped_in_html(make_smtp_server):
    server = make_smtp_server(
        tls="starttls", users={"mailer": "pw-123456"},
        refuse_sender={"biuro@firma.example": "553 <script>alert(1)</script>"})
    html = str(run(unsaved(server)).as_html())
    assert "<script>" not in html and "&lt;script&gt;" in html


# --- other transports and languages ------------------------------------------------


def test_system_transport_hands_the_test_message_to_the_system_backend(db, settings):
    settings.SYMFONIA_MAIL = {"SYSTEM_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    report = run(unsaved(transport="system", host="", cc="kopia@firma.example"))
    assert report.ok, report.summary()
    assert names(report) == ["system"]
    [sent] = mail.outbox
    assert sent.to == ["biuro@firma.example"] and sent.cc == ["kopia@firma.example"]


def test_language_picks_the_test_message_language(smtp_server, global_config):
    report = run_smtp_test(from_model(global_config), language="pl")
    assert report.ok and report.language == "pl"
    message = smtp_server.messages[0].message
    # .strip(): Django folds the long encoded word onto its own line ("Subject: \r\n =?utf-8?…").
    assert message["Subject"].strip() == "Wiadomość testowa – Firma Testowa sp. z o.o."
    assert "Dzień dobry" in message.get_body(("plain",)).get_content()


# --- classify() on its own -----------------------------------------------------------


def _disconnected_by_timeout():
    # What smtplib.SMTP.getreply() raises when the read times out.
    try:
        try:
            raise TimeoutError("timed out")
        except OSError as exc:
            raise smtplib.SMTPServerDisconnected(f"Connection unexpectedly closed: {exc}")  # noqa: B904
    except smtplib.SMTPServerDisconnected as exc:
        return exc


@pytest.mark.parametrize(("exc", "code"), [
    (ConnectionRefusedError(111, "Connection refused"), "connection_refused"),
    (socket.gaierror(-2, "Name or service not known"), "dns_not_found"),
    (TimeoutError("timed out"), "timeout"),
    (ssl.SSLCertVerificationError(1, "certificate verify failed"), "certificate_not_trusted"),
    (OSError(101, "Network is unreachable"), "network_error"),
    (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "disconnected"),
    (_disconnected_by_timeout(), "timeout"),
    (smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."),
     "starttls_not_offered"),
    (smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server."),
     "auth_not_offered"),
    (smtplib.SMTPException("No suitable authentication method found."),
     "auth_mechanism_unsupported"),
    (smtplib.SMTPAuthenticationError(535, b"5.7.8 Username and Password not accepted"),
     "login_refused"),
    (smtplib.SMTPAuthenticationError(534, GMAIL_534[4:].encode()),
     "app_password_required_gmail"),
    (smtplib.SMTPAuthenticationError(535, MICROSOFT_535[4:].encode()),
     "app_password_required_microsoft"),
    (smtplib.SMTPSenderRefused(550, MICROSOFT_550[4:].encode(), "a@b.example"),
     "app_password_required_microsoft"),
    (smtplib.SMTPSenderRefused(530, b"5.7.0 Authentication Required", "a@b.example"),
     "auth_required"),
    (smtplib.SMTPSenderRefused(530, b"5.7.0 Must issue a STARTTLS command first", "a@b.ex"),
     "tls_required"),
    (smtplib.SMTPSenderRefused(553, b"5.7.1 rejected", "a@b.example"), "sender_refused"),
    (smtplib.SMTPRecipientsRefused({"x@y.example": (550, b"5.1.1 unknown")}),
     "recipient_refused"),
    (RecipientsRefused({"x@y.example": (550, b"5.1.1 unknown")}), "recipient_refused"),
    (smtplib.SMTPDataError(554, b"5.6.0 message rejected"), "message_refused"),
    (smtplib.SMTPConnectError(554, b"no service"), "greeting_refused"),
    (UnreadableSecretError("SMTP password", "the global configuration"),
     "unreadable_password"),
    (UnicodeEncodeError("ascii", "hasło", 3, 4, "ordinal not in range(128)"),
     "non_ascii_text"),
])
def test_classify(exc, code):
    got, hint = classify(exc)
    assert got == code
    assert str(hint)


def test_classify_wrong_version_number_from_a_real_handshake(make_smtp_server):
    server = make_smtp_server(tls=None)
    with pytest.raises(ssl.SSLError) as info:
        smtplib.SMTP_SSL(server.host, server.port, timeout=2,
                         context=ssl.create_default_context())
    assert classify(info.value)[0] == "tls_mismatch"


# --- issue 19 (11): a failed step is one row, never first [OK] ---------------------------------


def test_failed_login_is_one_failed_row(smtp_server, global_config):
    report = run(unsaved(smtp_server, password="wrong-password"))
    assert names(report) == ["connect", "ehlo", "starttls", "login"]
    login = report.steps[-1]
    assert login.status == "failed" and login.reply.startswith("535 ")
    assert login.detail.endswith(", mailer")
    assert report.summary().count("] Login") == 1
    assert "[OK] Login" not in report.summary()


def test_untrusted_starttls_certificate_is_one_failed_row(make_smtp_server, untrusted_cert):
    server = make_smtp_server(tls="starttls", certificate=untrusted_cert,
                              users={"mailer": "pw-123456"})
    report = run(unsaved(server))
    assert names(report) == ["connect", "ehlo", "starttls"]
    starttls = report.steps[-1]
    assert starttls.status == "failed" and report.code == "certificate_not_trusted"
    # The server's go-ahead, then what went wrong in the handshake.
    assert starttls.reply.startswith("220 ") and "CERTIFICATE_VERIFY_FAILED" in starttls.reply
    html = str(report.as_html())
    assert html.count("STARTTLS</strong>") == 1 and "symfonia-step-ok\">[OK] <strong>STARTTLS" \
        not in html
