"""The Polish translation: complete, compiled, and what a Symfonia user reads in the admin."""

import gettext
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

import symfonia_mail

PACKAGE = Path(symfonia_mail.__file__).parent
PO = PACKAGE / "locale" / "pl" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
needs_gettext = pytest.mark.skipif(not shutil.which("msgfmt"), reason="gettext not installed")


def po_entries(path):
    """Return {msgid: (msgstr, flags)} of a .po file (plural forms: the first msgstr)."""
    entries, flags, key, current = {}, "", None, {}

    def flush():
        if current.get("msgid"):
            entries[current["msgid"]] = (current.get("msgstr", ""), current.get("flags", ""))

    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#,"):
            flags = line
        elif line.startswith(("msgid ", "msgctxt ")) and key not in (None, "msgid", "msgctxt"):
            flush()
            current, key = {}, None
        if line.startswith("msgid "):
            key, current["flags"], flags = "msgid", flags, ""
            current["msgid"] = _literal(line[6:])
        elif line.startswith(("msgstr ", "msgstr[0] ")):
            key = "msgstr"
            current["msgstr"] = _literal(line.split(" ", 1)[1])
        elif line.startswith("msgstr["):
            key = "other"
        elif line.startswith('"') and key in ("msgid", "msgstr"):
            current[key] += _literal(line)
        elif line.startswith("msgid_plural"):
            key = "plural"
    flush()
    return entries


def _literal(text):
    import ast

    return ast.literal_eval(text)


def test_every_message_is_translated():
    entries = po_entries(PO)
    assert len(entries) > 200
    untranslated = [msgid for msgid, (msgstr, _flags) in entries.items() if not msgstr]
    fuzzy = [msgid for msgid, (_msgstr, flags) in entries.items() if "fuzzy" in flags]
    assert untranslated == [] and fuzzy == []


def test_placeholders_survive_translation():
    import re

    placeholder = re.compile(r"%\(\w+\)[sd]|%[sd]|\{[^}]*\}")
    for msgid, (msgstr, _flags) in po_entries(PO).items():
        assert sorted(placeholder.findall(msgid)) == sorted(placeholder.findall(msgstr)), msgid


@needs_gettext
def test_compiled_catalog_matches_the_po(tmp_path):
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(fresh), str(PO)], check=True)
    with MO.open("rb") as shipped, fresh.open("rb") as compiled:
        assert gettext.GNUTranslations(shipped)._catalog == (
            gettext.GNUTranslations(compiled)._catalog), "run compilemessages"


@needs_gettext
def test_every_message_of_the_package_is_in_the_po(tmp_path):
    # makemessages on a copy: the msgids the source has today, without touching the repo.
    copy = tmp_path / "symfonia_mail"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    subprocess.run([sys.executable, "-m", "django", "makemessages", "-l", "pl",
                    "--no-obsolete", "--no-location"],
                   cwd=copy, check=True, capture_output=True)
    current = set(po_entries(copy / "locale" / "pl" / "LC_MESSAGES" / "django.po"))
    missing = current - {m for m, (s, f) in po_entries(PO).items() if s and "fuzzy" not in f}
    assert not missing, f"untranslated new messages: {sorted(missing)}"


@pytest.mark.django_db
def test_the_admin_reads_in_polish(client):
    client.force_login(User.objects.create_superuser("admin", "a@firma.example", "pw"))
    html = client.get(reverse("admin:symfonia_mail_globalmailconfig_change", args=[1]),
                      headers={"Accept-Language": "pl"}).content.decode()
    for text in ("Wspólna konfiguracja poczty", "Dostęp SMTP", "Serwer SMTP",
                 "Limit czasu odpowiedzi serwera (ms)", "Nadawca", "DW (do wiadomości)",
                 "UDW (ukryte do wiadomości)", "Powiadomienia o doręczeniu",
                 "Hasło do załączników", "Test SMTP"):
        assert text in html, text
    assert "Wczytaj konfigurację dla wybranego zakresu" not in html  # no scope here
    html = client.get(reverse("admin:symfonia_mail_usermailconfig_add"),
                      headers={"Accept-Language": "pl"}).content.decode()
    assert "Wspólna dla wszystkich użytkowników — wszystkie wiadomości są wysyłane z " \
           "jednego adresu" in html
    assert "Tylko dla tego użytkownika — zapisana dla tego użytkownika, bez wpływu na " \
           "innych" in html
    assert "Wczytaj konfigurację dla wybranego zakresu" in html
