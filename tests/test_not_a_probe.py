"""Test SMTP is not a probe (issue 10 item 6): no quoting of non-SMTP peers,
ALLOWED_SERVERS for non-superusers, a rate limit per user."""

import pytest
from django.core.mail import EmailMessage, get_connection, send_mail
from django.utils import translation

from symfonia_mail.admin.forms import GlobalMailConfigForm
from symfonia_mail.config.allowed import server_allowed
from symfonia_mail.config.resolver import from_model
from symfonia_mail.diagnostics.smtp_test import run_smtp_test
from symfonia_mail.exceptions import GreetingRefused, NotAnSMTPServer, ServerNotAllowed
from symfonia_mail.models import GlobalMailConfig, MailLog, UserMailConfig

from .conftest import config_values
from .smtpd_faults import BannerServer

pytestmark = pytest.mark.django_db

SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3 secret-host.internal\r\n"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def banner_server():
    started = []

    def start(banner):
        server = BannerServer(banner)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def all_text(report):
    return "\n".join([report.summary(), str(report.as_html()), *(
        f"{s.detail} {s.reply} {s.hint}" for s in report.steps)])


def unsaved(server, **overrides):
    values = config_values(server, security="none", username="", password="",
                           timeout_ms=2000)
    values.update(overrides)
    return GlobalMailConfig(**values)


def test_ssh_banner_is_not_quoted_by_test_smtp(banner_server):
    server = banner_server(SSH_BANNER)
    report = run_smtp_test(from_model(unsaved(server)), language="en")
    assert report.code == "not_smtp"
    assert "did not answer like an SMTP server" in all_text(report)
    assert "OpenSSH" not in all_text(report) and "secret-host" not in all_text(report)


def test_ssh_banner_is_not_quoted_when_sending(banner_server):
    server = banner_server(SSH_BANNER)
    config = unsaved(server)
    config.save()
    with pytest.raises(NotAnSMTPServer) as caught:
        send_mail("s", "b", None, ["a@example.com"])
    assert "OpenSSH" not in str(caught.value)
    error = MailLog.objects.get().error
    assert "did not answer like an SMTP server" in error and "OpenSSH" not in error


def test_a_refusing_greeting_is_not_quoted(banner_server):
    server = banner_server(b"554 secret-host.internal ESMTP not for you\r\n")
    report = run_smtp_test(from_model(unsaved(server)), language="en")
    assert report.code == "greeting_refused"
    assert "554" in report.failure.reply
    assert "secret-host" not in all_text(report)


REFUSAL_421 = b"421 4.3.2 mx.secret-host.internal Service not available, closing channel\r\n"
REFUSAL_WORDS = "421 4.3.2 Service not available, closing channel"


def test_a_refusing_greeting_keeps_its_words_in_test_smtp(banner_server):
    server = banner_server(REFUSAL_421)
    report = run_smtp_test(from_model(unsaved(server)), language="en")
    assert report.code == "greeting_refused"
    assert report.failure.reply == REFUSAL_WORDS
    assert REFUSAL_WORDS in report.summary()
    assert "secret-host" not in all_text(report)


def test_a_refusing_greeting_keeps_its_words_in_the_exception_and_the_log(banner_server):
    server = banner_server(REFUSAL_421)
    unsaved(server).save()
    with pytest.raises(GreetingRefused) as caught:
        send_mail("s", "b", None, ["a@example.com"])
    assert caught.value.smtp_code == 421
    assert REFUSAL_WORDS in str(caught.value)
    assert "refusal" in str(caught.value)  # the hint follows the server's words
    error = MailLog.objects.get().error
    assert REFUSAL_WORDS in error and "secret-host" not in error


@pytest.mark.parametrize(("patterns", "host", "port", "allowed"), [
    (None, "anything.example", 25, True),
    ([], "smtp.firma.pl", 587, False),
    (["smtp.office365.com:587"], "smtp.office365.com", 587, True),
    (["smtp.office365.com:587"], "SMTP.Office365.com.", 587, True),
    (["smtp.office365.com:587"], "smtp.office365.com", 25, False),
    (["*.firma.pl"], "poczta.firma.pl", 465, True),
    (["*.firma.pl"], "firma.pl.evil.example", 465, False),
    (["127.0.0.1:2525", "*.firma.pl"], "127.0.0.1", 22, False),
])
def test_allowed_server_patterns(settings, patterns, host, port, allowed):
    settings.SYMFONIA_MAIL = {"ALLOWED_SERVERS": patterns}
    assert server_allowed(host, port) is allowed


def test_form_refuses_a_server_outside_the_list_for_non_superusers(settings,
                                                                   django_user_model):
    settings.SYMFONIA_MAIL = {"ALLOWED_SERVERS": ["*.firma.pl"]}
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    admin = django_user_model.objects.create_superuser("root")
    data = {"transport": "smtp", "host": "10.0.0.5", "port": 22, "security": "none",
            "timeout_ms": 2000, "sender_email": "biuro@firma.example", "dsn_notify": "None",
            "auth_method": "password"}
    instance = GlobalMailConfig.get_solo()
    form = type("F", (GlobalMailConfigForm,), {"editor": staff})(data, instance=instance)
    assert not form.is_valid()
    assert "host" in form.errors
    form = type("F", (GlobalMailConfigForm,), {"editor": admin})(data, instance=instance)
    form.is_valid()
    assert "host" not in form.errors


def test_test_smtp_refuses_for_non_superusers_without_connecting(settings, banner_server,
                                                                 django_user_model):
    settings.SYMFONIA_MAIL = {"ALLOWED_SERVERS": ["*.firma.pl"]}
    server = banner_server(b"220 ok\r\n")
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    report = run_smtp_test(from_model(unsaved(server)), user=staff, language="en")
    assert report.code == "server_not_allowed"
    assert server.connections == 0


def test_send_time_check_for_a_non_superusers_own_configuration(settings, smtp_server,
                                                                django_user_model):
    settings.SYMFONIA_MAIL = {"ALLOWED_SERVERS": ["*.firma.pl"]}
    user = django_user_model.objects.create_user("ania")
    UserMailConfig.objects.create(user=user, scope="individual",
                                  **config_values(smtp_server))
    with pytest.raises(ServerNotAllowed):
        get_connection(user=user).send_messages([EmailMessage("s", "b", to=["a@x.pl"])])
    assert smtp_server.messages == []
    assert "ALLOWED_SERVERS" in MailLog.objects.get().error
    # A superuser's own configuration is not restricted.
    root = django_user_model.objects.create_superuser("root")
    UserMailConfig.objects.create(user=root, scope="individual",
                                  **config_values(smtp_server))
    assert get_connection(user=root).send_messages(
        [EmailMessage("s", "b", to=["a@x.pl"])]) == 1


def test_test_smtp_rate_limit_per_user(settings, smtp_server, django_user_model):
    settings.SYMFONIA_MAIL = {"TEST_SMTP_PER_HOUR": 2}
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    other = django_user_model.objects.create_user("other", is_staff=True)
    config = from_model(GlobalMailConfig(**config_values(smtp_server)))
    assert run_smtp_test(config, user=staff, language="en").ok
    assert run_smtp_test(config, user=staff, language="en").ok
    refused = run_smtp_test(config, user=staff, language="en")
    assert refused.code == "rate_limited"
    assert len(smtp_server.messages) == 2
    assert run_smtp_test(config, user=other, language="en").ok
