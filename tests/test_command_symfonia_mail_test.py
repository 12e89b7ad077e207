"""``manage.py symfonia_mail_test`` against real servers on 127.0.0.1."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from symfonia_mail.models import GlobalMailConfig, UserMailConfig

from .conftest import config_values
from .smtpd import dead_port

pytestmark = pytest.mark.django_db


def run_command(*args):
    out = io.StringIO()
    call_command("symfonia_mail_test", "--language", "en", *args, stdout=out)
    return out.getvalue()


def test_global_configuration_passes_and_prints_every_step(global_config, smtp_server):
    out = run_command()
    assert out.splitlines()[0] == "Testing the global configuration."
    assert "succeeded: the test message was sent to biuro@firma.example" in out
    for line in ("[OK] Connect", "[OK] STARTTLS", "[OK] Login", "[OK] Message (DATA)",
                 "235 2.7.0 Authentication successful"):
        assert line in out
    assert smtp_server.password not in out
    assert len(smtp_server.messages) == 1


def test_failure_exits_non_zero_with_the_hint(global_config, smtp_server):
    global_config.port = dead_port()
    global_config.save()
    out = io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command("symfonia_mail_test", "--language", "en", stdout=out)
    assert info.value.returncode == 1
    assert "failed at step “Connect”" in str(info.value)
    assert "[FAILED] Connect" in out.getvalue()
    assert "Hint: Nothing accepts connections" in out.getvalue()


def test_user_with_individual_configuration(global_config, make_smtp_server,
                                            django_user_model):
    other = make_smtp_server(tls="starttls", users={"ania": "her-own-pw"})
    user = django_user_model.objects.create_user("ania")
    UserMailConfig.objects.create(
        user=user, scope="individual",
        **config_values(other, sender_email="ania@firma.example"))
    out = run_command("--user", "ania")
    assert "Testing the individual configuration of ania." in out
    assert other.messages[0].rcpt_tos == ["ania@firma.example"]
    assert other.messages[0].login == "ania"


def test_user_following_the_global_scope_tests_the_global_configuration(
        global_config, smtp_server, django_user_model):
    user = django_user_model.objects.create_user("bartek")
    UserMailConfig.objects.create(user=user, scope="global", host="stored.invalid")
    out = run_command("--user", "bartek")
    assert "Testing the global configuration." in out
    assert smtp_server.messages[0].rcpt_tos == ["biuro@firma.example"]


def test_unknown_user_is_an_error(global_config):
    with pytest.raises(CommandError, match="No user with the user name “nobody”"):
        run_command("--user", "nobody")


def test_nothing_is_saved(global_config, smtp_server):
    before = GlobalMailConfig.objects.values().get()
    run_command()
    assert GlobalMailConfig.objects.values().get() == before
