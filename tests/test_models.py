"""Validation of the stored configuration, and secrets that cannot be decrypted."""

import smtplib

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db.models import ProtectedError
from django.utils import translation

from symfonia_mail.exceptions import UnreadableSecretError
from symfonia_mail.fields import UnreadableSecret
from symfonia_mail.models import GlobalMailConfig, MailLog, UserMailConfig

from .conftest import config_values

pytestmark = pytest.mark.django_db


def valid_config(**overrides):
    config = GlobalMailConfig(**{
        "transport": "smtp", "host": "smtp.example.com", "port": 587,
        "sender_email": "biuro@firma.example", **overrides,
    })
    return config


def errors_of(config):
    """Return {field: [messages]} in English (the test settings speak Polish)."""
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        config.full_clean()
    with translation.override("en"):
        return caught.value.message_dict


def test_a_complete_configuration_is_valid():
    config = valid_config(cc="a@example.com, Kasia <k@example.com>", dsn_notify="OnSuccess,Delay")
    config.full_clean()


@pytest.mark.parametrize("value", ["nie-adres", "a@example.com,,b@example.com",
                                   "a@example.com; b@example.com", "a@@example.com"])
def test_address_lists_must_hold_valid_addresses(value):
    errors = errors_of(valid_config(cc=value, bcc=value))
    assert "Not a valid e-mail address" in " ".join(errors["cc"]) or errors["cc"]
    assert "bcc" in errors


@pytest.mark.parametrize("field", ["host", "username", "sender_name", "company_name"])
@pytest.mark.parametrize("bad", ["a\r\nBcc: x@example.com", "a\nb", "tab\x0bhere", "nul\x00"])
def test_header_bound_fields_refuse_control_characters(field, bad):
    errors = errors_of(valid_config(**{field: bad}))
    assert "control characters" in " ".join(errors[field])


def test_the_error_speaks_polish_to_a_polish_admin():
    with translation.override("pl"), pytest.raises(ValidationError) as caught:
        valid_config(host="a\r\nb").full_clean()
    [message] = caught.value.message_dict["host"]
    assert "control characters" not in message and message


def test_cc_with_a_line_break_is_refused():
    assert "cc" in errors_of(valid_config(cc="a@example.com\r\nBcc: x@example.com"))


@pytest.mark.parametrize("port", [0, 65536, 70000])
def test_port_range(port):
    assert "port" in errors_of(valid_config(port=port))


def test_timeout_must_be_positive_and_defaults_to_30_seconds():
    assert GlobalMailConfig().timeout_ms == 30_000
    assert "timeout_ms" in errors_of(valid_config(timeout_ms=0))


@pytest.mark.parametrize("value", ["Sometimes", "Never,OnSuccess", "None,Delay",
                                   "OnSuccess,OnSuccess"])
def test_invalid_dsn_choices(value):
    assert "dsn_notify" in errors_of(valid_config(dsn_notify=value))


@pytest.mark.parametrize("value", ["", "None", "Never", "OnSuccess,OnFailure,Delay"])
def test_valid_dsn_choices(value):
    valid_config(dsn_notify=value).full_clean()


def test_smtp_transport_needs_host_and_sender():
    errors = errors_of(valid_config(host="", sender_email=""))
    assert set(errors) >= {"host", "sender_email"}
    valid_config(transport="system", host="", sender_email="").full_clean()


def test_global_config_refuses_to_be_deleted():
    config = GlobalMailConfig.get_solo()
    with pytest.raises(ProtectedError, match="cannot be deleted"):
        config.delete()
    assert GlobalMailConfig.objects.filter(pk=config.pk).exists()


def test_global_config_is_a_singleton():
    first = GlobalMailConfig.get_solo()
    second = GlobalMailConfig(company_name="X")
    second.save()
    assert GlobalMailConfig.objects.count() == 1
    assert GlobalMailConfig.get_solo().company_name == "X"
    assert first.pk == second.pk == 1


def test_passwords_are_encrypted_at_rest():
    config = valid_config(username="u", password="plain-Pa55", attachment_password="zip-Pa55")
    config.save()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT password, attachment_password FROM symfonia_mail_globalmailconfig")
        stored = cursor.fetchone()
    assert all(value.startswith("gAAAAA") for value in stored)
    assert "plain-Pa55" not in stored[0]
    assert GlobalMailConfig.get_solo().password == "plain-Pa55"


def _store_ciphertext_of_another_key(model, pk):
    """Write a password encrypted with a retired key, bypassing the field (raw SQL)."""
    from django.db import connection

    foreign = Fernet(Fernet.generate_key()).encrypt(b"the-real-password").decode()
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(model._meta.db_table)
        cursor.execute(f"UPDATE {table} SET password = %s WHERE id = %s",  # noqa: S608
                       [foreign, pk])
    return foreign


def test_a_password_encrypted_with_another_key_is_never_sent(smtp_server):
    GlobalMailConfig(**config_values(smtp_server)).save()
    foreign = _store_ciphertext_of_another_key(GlobalMailConfig, 1)
    loaded = GlobalMailConfig.get_solo()
    assert isinstance(loaded.password, UnreadableSecret)
    with pytest.raises(UnreadableSecretError, match="FIELD_ENCRYPTION_KEY") as caught:
        send_mail("s", "b", None, ["a@example.com"])
    assert isinstance(caught.value, smtplib.SMTPException)
    assert foreign not in str(caught.value)
    assert smtp_server.login_attempts == 0 and smtp_server.messages == []
    log = MailLog.objects.get()
    assert log.status == "failed" and "cannot be decrypted" in log.error
    # Re-saving keeps the ciphertext as it was (no double encryption).
    loaded.save()
    assert GlobalMailConfig.objects.values_list("password", flat=True).get() == foreign


def test_system_check_reports_unreadable_secrets(django_user_model, smtp_server):
    user = django_user_model.objects.create(username="u")
    row = UserMailConfig.objects.create(user=user, **config_values(smtp_server))
    _store_ciphertext_of_another_key(UserMailConfig, row.pk)
    with pytest.raises(SystemCheckError, match="symfonia_mail.E006"):
        call_command("check", databases=["default"])


def test_system_check_reports_a_missing_key(settings):
    from symfonia_mail.checks import check_settings

    settings.FIELD_ENCRYPTION_KEY = None
    assert [e.id for e in check_settings()] == ["symfonia_mail.E001"]
    settings.FIELD_ENCRYPTION_KEY = "not-a-key"
    assert [e.id for e in check_settings()] == ["symfonia_mail.E001"]


def test_unknown_app_setting_is_reported(settings):
    from symfonia_mail.checks import check_settings

    settings.SYMFONIA_MAIL = {"SYSTEM_BAKCEND": "x"}
    [error] = check_settings()
    assert error.id == "symfonia_mail.E002" and "SYSTEM_BAKCEND" in error.msg


def test_user_on_global_scope_may_keep_incomplete_individual_values(django_user_model):
    user = django_user_model.objects.create(username="u")
    UserMailConfig(user=user, scope="global", host="").full_clean()
    with pytest.raises(ValidationError):
        UserMailConfig(user=user, scope="individual", host="").full_clean()


def test_an_attachment_password_too_long_for_7zip_is_refused_on_save():
    errors = errors_of(valid_config(attachment_password="ż" * 50))  # 100 bytes in UTF-8
    assert "100 bytes" in errors["attachment_password"][0]
    valid_config(attachment_password="ż" * 49 + "a").full_clean()  # 99 bytes


def test_a_user_name_without_a_password_is_refused():
    # Django's SMTP backend logs in only with both; it would send unauthenticated instead.
    assert "password" in errors_of(valid_config(username="biuro", password=""))
    valid_config(username="", password="").full_clean()
