"""OAuth2 secrets at rest: key rotation, unreadable-key check E006, never in reprs (issue 11)."""

import io

import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from symfonia_mail.checks import check_stored_secrets
from symfonia_mail.config import resolver
from symfonia_mail.models import GlobalMailConfig

pytestmark = pytest.mark.django_db


def _oauth_row():
    config = GlobalMailConfig.get_solo()
    config.auth_method = "microsoft365"
    config.username = "biuro@firma.example"
    config.oauth_tenant, config.oauth_client_id = "firma.onmicrosoft.com", "app-1"
    config.oauth_client_secret, config.oauth_refresh_token = "sekret-klienta", "rt-odświeżania"
    config.save()
    return config


def _raw(*columns):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM symfonia_mail_globalmailconfig")  # noqa: S608
        return cursor.fetchone()


def test_rotate_key_reencrypts_the_oauth_secrets(monkeypatch, settings):
    from encrypted_model_fields import fields as crypto

    _oauth_row()
    new_key = Fernet.generate_key()
    monkeypatch.setattr(crypto, "CRYPTER", MultiFernet(
        [Fernet(new_key), Fernet(settings.FIELD_ENCRYPTION_KEY)]))
    call_command("symfonia_mail_rotate_key", stdout=io.StringIO())
    secret, token = _raw("oauth_client_secret", "oauth_refresh_token")
    assert Fernet(new_key).decrypt(secret.encode()).decode() == "sekret-klienta"
    assert Fernet(new_key).decrypt(token.encode()).decode() == "rt-odświeżania"


def test_unreadable_refresh_token_is_reported_and_blocks_rotation(monkeypatch):
    _oauth_row()
    foreign = Fernet(Fernet.generate_key()).encrypt(b"rt-old").decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE symfonia_mail_globalmailconfig SET oauth_refresh_token = %s",
                       [foreign])
    errors = check_stored_secrets(databases=["default"])
    assert [e.id for e in errors] == ["symfonia_mail.E006"]
    assert "oauth refresh token" in errors[0].msg and "Connect" in errors[0].hint
    with pytest.raises(CommandError, match="oauth_refresh_token"):
        call_command("symfonia_mail_rotate_key", stdout=io.StringIO())


def test_secrets_not_in_reprs():
    config = resolver.from_model(_oauth_row())
    text = repr(config)
    assert "sekret-klienta" not in text and "rt-odświeżania" not in text
    assert "auth=microsoft365" in text


def test_oauth_configuration_is_validated_per_method():
    from django.core.exceptions import ValidationError

    config = GlobalMailConfig(transport="smtp", host="smtp.office365.com", port=587,
                              sender_email="biuro@firma.example", auth_method="microsoft365",
                              username="biuro@firma.example", oauth_client_id="app-1",
                              oauth_tenant="evil.example/../common")
    with pytest.raises(ValidationError) as caught:
        config.full_clean()
    assert set(caught.value.message_dict) == {"oauth_tenant"}  # part of a URL: no slashes
    config.oauth_tenant = "firma.onmicrosoft.com"
    config.full_clean()  # no password needed, no secret either (Connect comes later)
    config.auth_method = "google"
    with pytest.raises(ValidationError) as caught:
        config.full_clean()
    assert set(caught.value.message_dict) == {"oauth_client_secret"}


def test_dumpdata_treats_oauth_secrets_like_the_password():
    config = _oauth_row()
    config.username, config.password = "biuro@firma.example", "hasło-zwykłe"
    config.save()
    out = io.StringIO()
    call_command("dumpdata", "symfonia_mail.globalmailconfig", stdout=out)
    dump = out.getvalue()
    # Whatever rule the password follows in a dump (plain today, ciphertext once the
    # field writes it), the client secret and the refresh token follow the same one.
    password_plain = "hasło-zwykłe" in dump or "has\\u0142o" in dump
    assert ("sekret-klienta" in dump) == password_plain
    assert ("rt-od" in dump) == password_plain
