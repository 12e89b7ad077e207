"""Django 5.2, 6.0 and 6.1 (MAILERS): the same behaviour, no deprecated calls of ours."""

import warnings

import django
import pytest
from django.core import mail
from django.core.mail import EmailMessage, send_mail
from django.test import override_settings

import symfonia_mail
from symfonia_mail import checks
from symfonia_mail.backends.configured import ConfiguredEmailBackend
from symfonia_mail.compat import HAS_MAILERS, addr_spec, message_bytes
from symfonia_mail.models import GlobalMailConfig, MailLog, UserMailConfig

pytestmark = pytest.mark.django_db
only_61 = pytest.mark.skipif(not HAS_MAILERS, reason="MAILERS exist from Django 6.1")
BACKEND = "symfonia_mail.backends.ConfiguredEmailBackend"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


def deprecations(record):
    kinds = DeprecationWarning | PendingDeprecationWarning
    return [w for w in record if issubclass(w.category, kinds)]


def test_a_send_calls_nothing_deprecated_on_this_django(global_config, smtp_server):
    """Also warnings that Django raises in its own modules because of our calls."""
    message = EmailMessage("Faktura", "Treść", None, ["Klient <client@example.com>"],
                           cc=["kopia@przykład.pl"])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        if HAS_MAILERS:
            sent = mail.mailers["default"].send_messages([message])
        else:
            sent = ConfiguredEmailBackend().send_messages([message])
    assert sent == 1
    assert deprecations(record) == [], [str(w.message) for w in record]
    idna = "przykład.pl".encode("idna").decode()
    assert smtp_server.messages[0].rcpt_tos == ["client@example.com", f"kopia@{idna}"]


def test_message_bytes_have_crlf_line_ends_on_every_version():
    message = EmailMessage("Temat", "linia 1\nlinia 2", "a@example.com", ["b@example.com"])
    mime, data = message_bytes(message)
    assert b"\r\nlinia 2" in data or b"linia 2" not in data  # body may be base64
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert mime["Subject"] == "Temat"


def test_envelope_address_accepts_lazy_and_display_names():
    from django.utils.functional import lazy

    lazy_address = lazy(lambda: "Biuro <biuro@firma.example>", str)()
    assert addr_spec(lazy_address, "utf-8") == "biuro@firma.example"
    with pytest.raises(ValueError):
        addr_spec("a@example.com, b@example.com", "utf-8")


@pytest.mark.parametrize(("value", "shortcut"), [
    ("biuro@firma.example", True), ("Biuro <biuro@firma.example>", True),
    ("Biuro Firmy <b.k+x@firma.example>", True), ("<biuro@firma.example>", True),
    ("  Biuro   <biuro@firma.example>", True), ("J. Kowalski <jk@firma.example>", False),
    ('"Kowalski, Jan" <jk@firma.example>', False), ("Łukasz <l@firma.example>", False),
    ("Biuro <biuro@żółw.pl>", False),
])
def test_envelope_address_shortcuts_agree_with_the_full_parse(value, shortcut, monkeypatch):
    from symfonia_mail.content import message as message_module

    try:
        expected = addr_spec(value, "utf-8")
    except ValueError:  # Django 6 refuses some that 5.2 takes (a period in the name)
        with pytest.raises(ValueError):
            message_module.envelope_address(value, "utf-8")
        expected = None
    else:
        assert message_module.envelope_address(value, "utf-8") == expected
    # The plain forms never reach the email package's parser (the single-send cost).
    parsed = []
    monkeypatch.setattr(message_module, "addr_spec",
                        lambda v, e: parsed.append(v) or expected)
    message_module.envelope_address(value, "utf-8")
    assert parsed == ([] if shortcut else [value])


@only_61
def test_mailers_default_without_options_sends_with_using(global_config, smtp_server):
    assert isinstance(mail.mailers["default"], ConfiguredEmailBackend)
    assert send_mail("Temat", "Treść", None, ["client@example.com"], using="default") == 1
    [received] = smtp_server.messages
    assert received.login == "mailer"  # the stored configuration, not MAILERS OPTIONS
    assert MailLog.objects.get().status == "sent"


@only_61
def test_unknown_mailer_options_are_reported_by_django(settings):
    settings.MAILERS = {**settings.MAILERS, "bad": {"BACKEND": BACKEND, "OPTIONS": {"hots": 1}}}
    with pytest.raises(mail.InvalidMailer, match="hots"):
        mail.mailers["bad"]  # noqa: B018


def test_mailer_picks_the_sending_user(global_config, smtp_server, django_user_model):
    user = django_user_model.objects.create_user("anna", first_name="Anna", last_name="Nowak")
    backend = symfonia_mail.mailer(user=user)
    assert isinstance(backend, ConfiguredEmailBackend) and backend.user == user
    message = EmailMessage("Od {wysyłający}", "x", None, ["client@example.com"])
    assert backend.send_messages([message]) == 1
    assert MailLog.objects.get().sent_by == user
    assert smtp_server.messages[0].message["Subject"] == "Od Anna Nowak"


@only_61
def test_check_tells_a_61_project_on_email_backend_how_to_move(settings):
    del settings.MAILERS
    settings.EMAIL_BACKEND = BACKEND
    [warning] = checks.check_mailers("django.core.mail.backends.smtp.EmailBackend")
    assert warning.id == "symfonia_mail.W010"
    assert "MAILERS = {\"default\": {\"BACKEND\": \"" + BACKEND in warning.hint


@only_61
def test_check_asks_for_a_mailer_alias_for_the_system_route():
    [warning] = checks.check_mailers("django.core.mail.backends.smtp.EmailBackend")
    assert warning.id == "symfonia_mail.W011"
    assert checks.check_mailers("system") == []


def ids(problems):
    return [problem.id for problem in problems]


@only_61
@pytest.mark.django_db
def test_w011_only_when_the_system_transport_matters(settings, django_user_model):
    """Issue 19 item 7: SYMFONIA_MAIL = {} and no configuration on 'system': no W011."""
    settings.SYMFONIA_MAIL = {}
    assert "symfonia_mail.W011" not in ids(checks.check_settings())
    assert checks.check_system_transport(databases=["default"]) == []
    GlobalMailConfig.objects.create(transport="smtp", host="smtp.firma.example")
    assert checks.check_system_transport(databases=["default"]) == []
    # A stored configuration on transport 'system' makes it matter (check --database).
    user = django_user_model.objects.create_user("anna")
    UserMailConfig.objects.create(user=user, transport="system")
    assert ids(checks.check_system_transport(databases=["default"])) == ["symfonia_mail.W011"]
    assert checks.check_system_transport(databases=None) == []  # not asked for the database
    # So does naming Django's SMTP backend explicitly (no query needed).
    settings.SYMFONIA_MAIL = {"SYSTEM_BACKEND": "django.core.mail.backends.smtp.EmailBackend"}
    assert "symfonia_mail.W011" in ids(checks.check_settings())
    assert checks.check_system_transport(databases=["default"]) == []  # said once


@only_61
def test_system_route_may_name_a_mailer_alias(global_config, settings):
    settings.MAILERS = {**settings.MAILERS,
                        "system": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    settings.SYMFONIA_MAIL = {"SYSTEM_BACKEND": "system"}
    global_config.transport = "system"
    global_config.save()
    mail.outbox = []
    assert send_mail("Temat", "Treść", None, ["client@example.com"], using="default") == 1
    assert [m.subject for m in mail.outbox] == ["Temat"]
    assert MailLog.objects.get().server == "system"


def test_pyproject_declares_the_tested_range():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert '"Django>=5.2,<7"' in text
    for version in ("5.2", "6.0", "6.1"):
        assert f'"Framework :: Django :: {version}"' in text
    assert django.VERSION[:2] in ((5, 2), (6, 0), (6, 1))


@override_settings(SYMFONIA_MAIL={"SYSTEM_BACKEND": LOCMEM})
def test_system_route_by_class_path_still_works(global_config):
    global_config.transport = "system"
    global_config.save()
    mail.outbox = []
    message = EmailMessage("Temat", "Treść", None, ["client@example.com"])
    assert ConfiguredEmailBackend().send_messages([message]) == 1
    assert len(mail.outbox) == 1
