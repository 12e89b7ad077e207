"""Issue 12, the office administrator's first hour: the admin without surprises (test client).

The browser half (field errors, colours, Reload, Save with the common scope) is in
tests/test_browser_first_hour.py.
"""

import re
from pathlib import Path

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import translation

import symfonia_mail
from symfonia_mail.admin.log import readable_error
from symfonia_mail.config import resolver
from symfonia_mail.diagnostics import smtp_test as diagnostics
from symfonia_mail.models import GlobalMailConfig, MailLog, MessageTemplate, UserMailConfig

from .test_admin import GLOBAL_URL, form_data, individual_row, make_staff, user_url

pytestmark = pytest.mark.django_db

POLISH = {"Accept-Language": "pl"}
LOG_URL = reverse("admin:symfonia_mail_maillog_changelist")
ADMIN_GUIDE = Path(__file__).resolve().parent.parent / "docs" / "admin-guide.md"


@pytest.fixture
def boss(db):
    return make_staff("admin", superuser=True)


@pytest.fixture
def clerk_user(db):
    return make_staff("clerk", "add_usermailconfig", "change_usermailconfig",
                      "view_usermailconfig", "view_maillog")


# --- (2) a failed step is not styled as a success ------------------------------------------


def test_a_failed_step_carries_its_own_status_class(client, boss, global_config,
                                                    smtp_server):
    client.force_login(boss)
    response = client.post(GLOBAL_URL, form_data(global_config, password="wrong-password",
                                                 _test_smtp="1"), headers=POLISH)
    (message,) = response.context["messages"]
    html = str(message)
    failed = re.findall(r'<li class="symfonia-step symfonia-step-failed">\[([^]]+)\]', html)
    assert failed == ["BŁĄD"], html
    assert 'class="symfonia-step symfonia-step-ok">[OK]' in html
    css = (Path(symfonia_mail.__file__).parent / "static/symfonia_mail/admin.css").read_text()
    assert re.search(r"li\.symfonia-step-failed \{[^}]*message-error-bg", css)


# --- (6) Save with the common scope changes only the scope ---------------------------------


def test_saving_with_the_common_scope_keeps_the_individual_values(client, clerk_user, smtp_server):
    row = individual_row(clerk_user, smtp_server, sender_name="Own Name", cc="szef@firma.example")
    client.force_login(clerk_user)
    # Edited sender name and CC, common scope picked, Save pressed (no Reload).
    data = form_data(row, sender_name="Edited Name", cc="", scope="global", _save="1")
    response = client.post(user_url(row), data, headers={"Accept-Language": "en"})
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = UserMailConfig.objects.get(pk=row.pk)
    assert stored.scope == "global"
    assert (stored.sender_name, stored.cc) == ("Own Name", "szef@firma.example")
    assert stored.password == row.password and stored.password_set_by == clerk_user
    texts = [str(m) for m in client.get(user_url(row)).context["messages"]]
    assert any("Only the scope was saved" in t and "Sender name" in t for t in texts), texts
    entry = LogEntry.objects.get(object_id=str(row.pk))
    with translation.override("en"):
        assert entry.get_change_message() == "Changed scope."


def test_saving_individual_scope_still_stores_the_values(client, clerk_user, smtp_server):
    row = individual_row(clerk_user, smtp_server)
    client.force_login(clerk_user)
    response = client.post(user_url(row), form_data(row, sender_name="Edited", _save="1"))
    assert response.status_code == 302
    assert UserMailConfig.objects.get(pk=row.pk).sender_name == "Edited"


# --- (8) Polish: "global", history lines, plural forms ------------------------------------


def test_global_template_title_is_translated():
    template = MessageTemplate.objects.create(key="payment_reminder", subject="S", body="B")
    with translation.override("pl"):
        assert str(template) == "payment_reminder (wspólny)"


def test_history_lines_use_translated_field_names(client, boss, global_config):
    client.force_login(boss)
    response = client.post(GLOBAL_URL, form_data(global_config, sender_name="Nowa nazwa",
                                                 attachment_password="Zalacznik-1", _save="1"))
    assert response.status_code == 302
    entry = LogEntry.objects.get(object_id="1")
    with translation.override("pl"):
        message = entry.get_change_message()
    assert "nazwa nadawcy" in message and "hasło do załączników" in message, message
    assert "Sender name" not in message and "Attachment password" not in message


@pytest.mark.parametrize(("count", "expected"), [
    (1, "1 wpis dziennika poczty"), (3, "3 wpisy dziennika poczty"),
    (5, "5 wpisów dziennika poczty"), (22, "22 wpisy dziennika poczty"),
])
def test_mail_log_count_declines_in_polish(client, boss, count, expected):
    MailLog.objects.bulk_create([MailLog(status="sent", scope="global", transport="smtp",
                                         subject=f"S{i}") for i in range(count)])
    client.force_login(boss)
    html = client.get(LOG_URL, headers=POLISH).content.decode()
    assert expected in " ".join(html.split())


# --- (10) the mail log --------------------------------------------------------------------


def test_test_smtp_runs_are_logged_with_kind_test_and_filterable(client, boss,
                                                                 global_config, smtp_server):
    client.force_login(boss)
    client.post(GLOBAL_URL, form_data(global_config, _test_smtp="1"))
    client.post(GLOBAL_URL, form_data(global_config, password="wrong-password",
                                      _test_smtp="1"), headers={"Accept-Language": "en"})
    runs = list(MailLog.objects.filter(kind="test").order_by("id"))
    assert [run.status for run in runs] == ["sent", "failed"]
    ok, failed = runs
    assert ok.sent_by == boss and ok.message_id and ok.server == global_config.host + (
        f":{global_config.port}")
    assert "biuro@firma.example" in ok.recipients
    assert "Login" in failed.error and "wrong-password" not in failed.error + failed.note
    MailLog.objects.create(status="sent", scope="global", transport="smtp", subject="Faktura")
    listed = client.get(LOG_URL + "?kind__exact=test", headers=POLISH).context["cl"].result_list
    assert {row.pk for row in listed} == {ok.pk, failed.pk}


def test_test_smtp_from_a_list_action_is_logged_for_the_user(client, boss, smtp_server):
    row = individual_row(boss, smtp_server)
    client.force_login(boss)
    client.post(reverse("admin:symfonia_mail_usermailconfig_changelist"),
                {"action": "test_smtp", "_selected_action": [row.pk]})
    run = MailLog.objects.get(kind="test")
    assert run.config_user == boss and run.scope == "individual"


def test_the_shell_command_logs_its_run(global_config, smtp_server):
    from django.core.management import call_command

    call_command("symfonia_mail_test", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert MailLog.objects.get(kind="test").status == "sent"


def test_errors_are_shown_as_text_not_python():
    raw = ("SMTPRecipientsRefused: {'odrzucony@kontrahent.example': (550, b'5.1.1 "
           "<odrzucony@kontrahent.example>: Recipient address rejected: User unknown')}")
    assert readable_error(raw) == ("odrzucony@kontrahent.example: 550 5.1.1 "
                                   "<odrzucony@kontrahent.example>: Recipient address rejected: "
                                   "User unknown")
    assert readable_error("SMTPSenderRefused: (553, b'5.7.1 Sender denied', 'a@b.example')") \
        == "(553, '5.7.1 Sender denied', 'a@b.example')"
    with translation.override("en"):
        cert = readable_error("SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] "
                              "certificate verify failed: unable to get local issuer "
                              "certificate")
    assert "trusted CA certificates" in cert


def test_log_list_and_detail_show_readable_errors(client, boss):
    row = MailLog.objects.create(
        status="failed", scope="global", transport="smtp", subject="Faktura FV/1",
        error="SMTPRecipientsRefused: {'x@kontrahent.example': (550, b'5.1.1 User unknown')}")
    client.force_login(boss)
    listing = client.get(LOG_URL).content.decode()
    assert "x@kontrahent.example: 550 5.1.1 User unknown" in listing
    assert "b&#x27;" not in listing and "SMTPRecipientsRefused" not in listing
    detail = client.get(reverse("admin:symfonia_mail_maillog_change", args=[row.pk]))
    assert "x@kontrahent.example: 550 5.1.1 User unknown" in detail.content.decode()


def test_admin_guide_permissions_let_an_office_user_open_the_mail_log(client, db):
    from django.contrib.auth.models import Permission, User

    text = " ".join(ADMIN_GUIDE.read_text().split())
    start = text.index("Office users need")
    paragraph = text[start:text.index("rows.", start)]
    view_log = Permission.objects.get(codename="view_maillog")
    assert view_log.name.removeprefix("Can ") in paragraph, paragraph  # "view mail log entry"
    user = User.objects.create_user("office", is_staff=True, password="pw")
    client.force_login(user)
    assert client.get(LOG_URL).status_code == 403
    user.user_permissions.add(view_log)
    assert client.get(LOG_URL).status_code == 200


def test_resolved_config_of_a_test_run_is_not_saved(global_config, smtp_server):
    # Recording the run writes a MailLog row, nothing else.
    before = list(GlobalMailConfig.objects.values())
    diagnostics.run_smtp_test(resolver.from_model(GlobalMailConfig(**{
        **{k: v for k, v in before[0].items() if k not in ("id",)}})))
    assert list(GlobalMailConfig.objects.values()) == before
    assert MailLog.objects.filter(kind="test").count() == 1
