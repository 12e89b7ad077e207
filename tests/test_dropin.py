"""ConfiguredEmailBackend as a drop-in for Django's SMTP backend (issue 9, DESIGN.md §10).

Explicit connection arguments, open() that connects, lazy strings, RecipientsRefused
for some and all refused recipients, and no fallback to EMAIL_HOST. Real servers on
127.0.0.1 throughout.
"""

import smtplib
import time

import pytest
from django.core.mail import EmailMessage
from django.utils.translation import gettext_lazy

from symfonia_mail.backends import ConfiguredEmailBackend
from symfonia_mail.exceptions import ConfigurationIncomplete, RecipientsRefused
from symfonia_mail.models import GlobalMailConfig, MailLog

from .smtpd import SilentServer, dead_port

pytestmark = pytest.mark.django_db


def message(to=("client@example.com",), **kwargs):
    return EmailMessage("Temat", "Treść", None, list(to), **kwargs)


def test_explicit_host_and_port_go_to_that_server_without_the_stored_login(
        global_config, make_smtp_server, smtp_server):
    other = make_smtp_server(tls=None, dsn=False)  # plain, no AUTH
    backend = ConfiguredEmailBackend(host=other.host, port=other.port, use_tls=False)
    assert backend.send_messages([message()]) == 1
    assert smtp_server.messages == []
    [received] = other.messages
    assert received.login is None  # the stored "mailer" login never went there
    assert received.mail_from == "biuro@firma.example"  # the configuration's sender stays
    assert MailLog.objects.get().server == f"{other.host}:{other.port}"


def test_a_changed_server_gets_only_the_callers_login(global_config, make_smtp_server):
    other = make_smtp_server(users={"inny": "hasło-innego"})
    backend = ConfiguredEmailBackend(port=other.port, username="inny", password="hasło-innego")
    assert backend.send_messages([message()]) == 1
    assert other.messages[0].login == "inny"


def test_a_changed_server_without_a_login_refuses_rather_than_leak_the_stored_one(
        global_config, make_smtp_server):
    other = make_smtp_server(users={"mailer": "s3cret-Pa55"})  # would accept the stored one
    backend = ConfiguredEmailBackend(port=other.port)
    with pytest.raises(smtplib.SMTPException):
        backend.send_messages([message()])
    assert other.login_attempts == 0 and other.messages == []


def test_same_server_keeps_the_stored_values_not_given(global_config, smtp_server):
    smtp_server.users["drugi"] = "drugie-Hasło"
    backend = ConfiguredEmailBackend(username="drugi", password="drugie-Hasło")
    assert backend.send_messages([message()]) == 1
    [received] = smtp_server.messages
    assert received.login == "drugi" and received.tls is True  # security kept (STARTTLS)


def test_use_tls_argument_turns_starttls_on(make_smtp_server, db):
    server = make_smtp_server(users={})  # STARTTLS offered, no AUTH
    config = GlobalMailConfig.get_solo()
    config.transport, config.host, config.port, config.security = "smtp", server.host, \
        server.port, "none"
    config.sender_email = "biuro@firma.example"
    config.save()
    assert ConfiguredEmailBackend(use_tls=True).send_messages([message()]) == 1
    assert server.messages[0].tls is True


def test_use_tls_and_use_ssl_together_are_refused_as_by_django():
    with pytest.raises(ValueError, match="mutually exclusive"):
        ConfiguredEmailBackend(use_tls=True, use_ssl=True)


def test_timeout_argument_replaces_the_stored_one(global_config):
    silent = SilentServer()
    try:
        backend = ConfiguredEmailBackend(port=silent.port, use_tls=False, timeout=0.5)
        began = time.monotonic()
        with pytest.raises((TimeoutError, smtplib.SMTPServerDisconnected)):
            backend.send_messages([message()])
        assert time.monotonic() - began < 4  # the stored timeout is 5 s
    finally:
        silent.stop()


def test_open_connects_and_later_sends_reuse_the_connection(global_config, smtp_server):
    backend = ConfiguredEmailBackend()
    assert backend.open() is True
    assert backend.connection is not None
    assert backend.open() is False
    assert backend.send_messages([message()]) == 1
    assert backend.send_messages([message(["drugi@example.com"])]) == 1
    backend.close()
    assert backend.connection is None
    assert smtp_server.login_attempts == 1  # one connection, one login, two messages
    assert len(smtp_server.messages) == 2


def test_open_reports_a_dead_server_at_once(global_config):
    global_config.port = dead_port()
    global_config.save()
    with pytest.raises(OSError), ConfiguredEmailBackend():
        pass
    backend = ConfiguredEmailBackend(fail_silently=True)
    assert backend.open() is None and backend.connection is None
    backend.close()


def test_lazy_strings_everywhere(global_config, smtp_server):
    lazy = gettext_lazy
    email = EmailMessage(lazy("Subject"), lazy("Body"), lazy("Biuro <biuro@firma.example>"),
                         [lazy("client@example.com")], cc=[lazy("Kopia <kopia@example.com>")],
                         reply_to=[lazy("odp@example.com")])
    assert ConfiguredEmailBackend().send_messages([email]) == 1
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["client@example.com", "kopia@example.com"]
    assert received.message["Subject"] == str(lazy("Subject"))  # "Temat" in Polish


def test_lazy_address_failure_is_silenced_like_a_delivery_error(global_config, smtp_server):
    smtp_server.handler.refuse_rcpt["client@example.com"] = "550 5.1.1 No such user"
    email = EmailMessage("x", "y", None, [gettext_lazy("client@example.com")])
    assert ConfiguredEmailBackend(fail_silently=True).send_messages([email]) == 0


def test_all_refused_raises_recipients_refused_with_the_envelope_id(
        global_config, smtp_server):
    global_config.dsn_notify = "OnFailure"
    global_config.save()
    smtp_server.handler.refuse_rcpt["client@example.com"] = "550 5.1.1 No such user"
    with pytest.raises(RecipientsRefused) as caught:
        ConfiguredEmailBackend().send_messages([message()])
    error = caught.value
    assert isinstance(error, smtplib.SMTPRecipientsRefused)
    assert not error.delivered and list(error.recipients) == ["client@example.com"]
    log = MailLog.objects.get()
    assert log.status == "failed" and "client@example.com" in log.refused_recipients
    assert len(log.envelope_id) == 32 and log.dsn_requested == "FAILURE"


def test_some_refused_is_caught_by_an_smtplib_except_clause(global_config, smtp_server):
    smtp_server.handler.refuse_rcpt["bad@example.com"] = "550 5.1.1 No such user"
    try:
        ConfiguredEmailBackend().send_messages([message(["ok@example.com", "bad@example.com"])])
    except smtplib.SMTPRecipientsRefused as exc:  # the clause written for Django's backend
        assert list(exc.recipients) == ["bad@example.com"]
        assert exc.delivered  # the others got it
    else:
        pytest.fail("RecipientsRefused was not raised")
    assert smtp_server.messages[0].rcpt_tos == ["ok@example.com"]


def test_no_host_is_configuration_incomplete_not_email_host(global_config, smtp_server,
                                                            settings):
    if not hasattr(settings, "MAILERS"):  # Django's fallback would take these
        settings.EMAIL_HOST, settings.EMAIL_PORT = smtp_server.host, smtp_server.port
    global_config.host = ""
    global_config.save(update_fields=["host"])
    with pytest.raises(ConfigurationIncomplete, match="global configuration has no SMTP server"):
        ConfiguredEmailBackend().send_messages([message()])
    assert smtp_server.messages == []
    assert ConfiguredEmailBackend(fail_silently=True).send_messages([message()]) == 0
    assert MailLog.objects.filter(status="failed").count() == 2
