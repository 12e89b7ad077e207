"""Quality gates as tests: system checks, migrations in sync, key rotation."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.core.management import call_command
from django.core.management.base import CommandError

from symfonia_mail.models import GlobalMailConfig


def test_system_checks_pass():
    call_command("check", fail_level="WARNING")


def test_a_missing_encryption_key_is_check_e001_not_a_traceback():
    """manage.py check in a project without FIELD_ENCRYPTION_KEY (issue 19 item 6)."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "DJANGO_SETTINGS_MODULE":
           "tests.settings_no_key"}
    result = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-m", "django", "check"], capture_output=True, text=True,
        cwd=root, env=env, timeout=120, check=False)
    assert result.returncode == 1
    assert "(symfonia_mail.E001) FIELD_ENCRYPTION_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr
    assert "must be defined in settings" not in result.stderr  # the package's own words


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out)
    except SystemExit as exit_:  # makemigrations --check exits 1 when changes are missing
        pytest.fail(f"makemigrations --check found changes ({exit_.code}):\n{out.getvalue()}")


@pytest.mark.django_db
def test_rotate_key_reencrypts_with_the_newest_key(monkeypatch, settings):
    from encrypted_model_fields import fields as crypto

    old_key = settings.FIELD_ENCRYPTION_KEY
    config = GlobalMailConfig.get_solo()
    config.username, config.password, config.attachment_password = "u", "stare-Hasło", "zip"
    config.save()
    new_key = Fernet.generate_key()
    # django-encrypted-model-fields builds its crypter once at import from the setting;
    # a deployment restarts with FIELD_ENCRYPTION_KEY = [new, old]. Do the same here.
    monkeypatch.setattr(crypto, "CRYPTER", MultiFernet([Fernet(new_key), Fernet(old_key)]))
    call_command("symfonia_mail_rotate_key", stdout=io.StringIO())
    stored = GlobalMailConfig.objects.values_list("password", flat=True)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM symfonia_mail_globalmailconfig")
        [(ciphertext,)] = cursor.fetchall()
    assert Fernet(new_key).decrypt(ciphertext.encode()) == "stare-Hasło".encode()
    assert list(stored) == ["stare-Hasło"]
    # Once the old key is gone the rows still read fine.
    monkeypatch.setattr(crypto, "CRYPTER", MultiFernet([Fernet(new_key)]))
    assert GlobalMailConfig.objects.get().password == "stare-Hasło"


@pytest.mark.django_db
def test_rotate_key_refuses_when_a_password_is_unreadable(monkeypatch):
    from encrypted_model_fields import fields as crypto

    config = GlobalMailConfig.get_solo()
    config.username, config.password = "u", "x-pass"
    config.save()
    monkeypatch.setattr(crypto, "CRYPTER", MultiFernet([Fernet(Fernet.generate_key())]))
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("symfonia_mail_rotate_key", stdout=io.StringIO())
