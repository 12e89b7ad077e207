"""The IMAP fieldset of the configuration pages, and Test SMTP's IMAP steps (real Dovecot)."""

import pytest
from django.contrib.auth.models import User

from symfonia_mail.models import GlobalMailConfig

from .test_admin import GLOBAL_URL, form_data, make_staff, show_url
from .test_admin_smtp import ENGLISH, plain

pytestmark = pytest.mark.django_db

IMAP_SECRET = "Imap-Secret-5d1c"


def imap_data(config, dovecot, address, **overrides):
    return form_data(config, imap_host=dovecot.host, imap_port=dovecot.port,
                     imap_security="starttls", imap_username=address, reports_folder="INBOX",
                     sent_copy="auto", **overrides)


def test_the_global_page_has_an_imap_fieldset_and_never_shows_the_imap_password(
        client, admin_user_with_imap):
    client.force_login(admin_user_with_imap)
    page = client.get(GLOBAL_URL, headers=ENGLISH).content.decode()
    for name in ("imap_host", "imap_port", "imap_security", "imap_username", "imap_password",
                 "reports_folder", "sent_copy", "sent_folder"):
        assert f'name="{name}"' in page
    assert ">IMAP<" in page
    assert IMAP_SECRET not in page
    assert show_url("globalmailconfig", 1, "imap_password") in page  # who entered it
    answer = client.post(show_url("globalmailconfig", 1, "imap_password")).json()
    assert answer == {"value": IMAP_SECRET}


def test_another_admin_may_not_show_it_nor_send_it_to_another_imap_server(
        client, admin_user_with_imap, global_config):
    other = make_staff("szef", superuser=True)
    client.force_login(other)
    assert client.post(show_url("globalmailconfig", 1, "imap_password")).status_code == 403
    stored = GlobalMailConfig.objects.get()
    response = client.post(GLOBAL_URL, form_data(
        stored, imap_host="imap.obcy.example", imap_port=stored.imap_port,
        imap_security=stored.imap_security, imap_username=stored.imap_username,
        reports_folder="INBOX", sent_copy="auto", _save="1"), headers=ENGLISH)
    assert response.status_code == 200
    assert "enter the IMAP password again" in response.content.decode()
    assert GlobalMailConfig.objects.get().imap_host == "127.0.0.1"


def test_the_smtp_password_does_not_follow_a_new_imap_server_either(client, global_config):
    # No IMAP password: the mailbox would log in with the SMTP password.
    global_config.password_set_by = User.objects.create_superuser("admin", "a@f.example", "pw")
    global_config.save()
    client.force_login(make_staff("szef", superuser=True))
    response = client.post(GLOBAL_URL, form_data(
        global_config, imap_host="imap.obcy.example", imap_port=993, imap_security="ssl",
        reports_folder="INBOX", sent_copy="auto", _save="1"), headers=ENGLISH)
    assert "enter the IMAP password again" in response.content.decode()
    assert GlobalMailConfig.objects.get().imap_host == ""
    # Typed in by the person making the change: saved.
    response = client.post(GLOBAL_URL, form_data(
        global_config, imap_host="imap.obcy.example", imap_port=993, imap_security="ssl",
        imap_password="nowe", reports_folder="INBOX", sent_copy="auto", _save="1"))
    assert response.status_code == 302
    assert GlobalMailConfig.objects.get().imap_password == "nowe"


def test_a_form_posted_without_the_imap_fields_keeps_them(client, admin_user_with_imap):
    client.force_login(admin_user_with_imap)
    stored = GlobalMailConfig.objects.get()
    response = client.post(GLOBAL_URL, form_data(stored, sender_name="Nowa nazwa", _save="1"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    saved = GlobalMailConfig.objects.get()
    assert (saved.imap_host, saved.imap_port, saved.imap_security, saved.imap_password,
            saved.sent_copy) == ("127.0.0.1", stored.imap_port, "starttls", IMAP_SECRET, "never")


def test_allowed_servers_apply_to_the_imap_server(client, settings, global_config):
    from symfonia_mail.models import UserMailConfig

    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL,
                              "ALLOWED_SERVERS": [f"127.0.0.1:{global_config.port}"]}
    clerk = make_staff("clerk", "add_usermailconfig", "change_usermailconfig",
                       "view_usermailconfig")
    row = UserMailConfig.objects.create(user=clerk, scope="individual", **{
        name: getattr(global_config, name) for name in (
            "transport", "host", "port", "security", "timeout_ms", "sender_email")})
    client.force_login(clerk)
    from django.urls import reverse

    url = reverse("admin:symfonia_mail_usermailconfig_change", args=[row.pk])
    response = client.post(url, form_data(row, imap_host="imap.obcy.example", imap_port=993,
                                          imap_security="ssl", reports_folder="INBOX",
                                          sent_copy="auto", _save="1"), headers=ENGLISH)
    assert "not on the list of servers allowed" in response.content.decode()
    assert UserMailConfig.objects.get().imap_host == ""


@pytest.fixture
def admin_user_with_imap(db, global_config):
    """A superuser who entered the stored IMAP password of the global configuration."""
    user = make_staff("admin", superuser=True)
    global_config.imap_host, global_config.imap_port = "127.0.0.1", 1143
    global_config.imap_security, global_config.imap_username = "starttls", "nadawca@dsn.test"
    global_config.imap_password, global_config.imap_password_set_by = IMAP_SECRET, user
    global_config.sent_copy = "never"
    global_config.save()
    return user


@pytest.mark.dovecot
def test_test_smtp_gains_the_imap_steps(client, dovecot, global_config):
    address, password = dovecot.add_user()
    client.force_login(make_staff("admin", superuser=True))
    response = client.post(GLOBAL_URL, imap_data(global_config, dovecot, address,
                                                 imap_password=password, _test_smtp="1"),
                           headers=ENGLISH)
    text = plain(response.content.decode())
    assert "IMAP login" in text and f"{dovecot.host}:{dovecot.port}, starttls, {address}" in text
    assert "IMAP delivery reports folder" in text and "0 message(s)" in text
    assert "IMAP Sent folder" in text
    assert GlobalMailConfig.objects.get().imap_host == ""  # Test SMTP saves nothing


@pytest.mark.dovecot
def test_imap_steps_report_a_refused_login_and_a_missing_folder(dovecot, global_config):
    from symfonia_mail.config import resolver
    from symfonia_mail.diagnostics.smtp_test import run_smtp_test

    address, password = dovecot.add_user()
    for name, value in dict(imap_host=dovecot.host, imap_port=dovecot.port,
                            imap_security="starttls", imap_username=address,
                            imap_password="zle", sent_copy="always").items():
        setattr(global_config, name, value)
    report = run_smtp_test(resolver.from_model(global_config))
    login = report.steps[-1]
    assert (login.name, login.status, login.code) == ("imap_login", "failed",
                                                      "imap_login_refused")
    assert not report.ok and "zle" not in report.summary()

    global_config.imap_password, global_config.reports_folder = password, "Brak"
    global_config.sent_folder = "Nie ma"
    report = run_smtp_test(resolver.from_model(global_config))
    steps = {step.name: step for step in report.steps}
    assert steps["imap_login"].status == "ok"
    assert (steps["imap_reports"].status, steps["imap_reports"].code) == (
        "failed", "imap_folder_missing")
    assert (steps["imap_sent"].status, steps["imap_sent"].code) == (
        "failed", "imap_sent_missing")
    global_config.reports_folder, global_config.sent_folder = "INBOX", ""
    report = run_smtp_test(resolver.from_model(global_config))
    assert report.ok and report.steps[-1].detail == "Sent"
