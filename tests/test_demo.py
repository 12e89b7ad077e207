"""`make demo` runs `manage.py demo`: prove its setup and sample send work (no server run)."""

import email
import os
import subprocess
import sys
from email import policy
from pathlib import Path

import pytest

from .smtpd import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_sets_up_and_sends_the_sample_through_the_capture_server(tmp_path):
    env = {
        **os.environ,
        "DEMO_DB": str(tmp_path / "demo.sqlite3"),
        "DEMO_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
    }
    env.pop("SSL_CERT_FILE", None)  # the demo trusts its own CA
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--no-serve", "--smtp-port", str(free_port())],
        cwd=ROOT / "example_project", env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "user: admin  password: admin" in result.stdout
    saved = sorted((tmp_path / "var" / "mail").glob("*.eml"))
    assert saved, result.stdout
    first = email.message_from_bytes(saved[0].read_bytes(), policy=policy.default)
    assert first["Subject"] == "Faktura FV/12/2026 dla ACME sp. z o.o."
    assert first["From"] == "Biuro Firma Demo <biuro@firma.example>"
    assert "Jan Kowalski" in first.get_content()  # {wysyłający}: the admin's full name
    assert "RET=HDRS" in first["X-Envelope-From"]
