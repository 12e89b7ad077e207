"""Admin rules of issue 5, through Django's test client: permissions, secrets, Reload scope."""

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from symfonia_mail.fields import UnreadableSecret
from symfonia_mail.models import GlobalMailConfig, MessageTemplate, Scope, UserMailConfig

from .conftest import config_values

pytestmark = pytest.mark.django_db

GLOBAL_URL = reverse("admin:symfonia_mail_globalmailconfig_change", args=[1])
USER_LIST_URL = reverse("admin:symfonia_mail_usermailconfig_changelist")
USER_ADD_URL = reverse("admin:symfonia_mail_usermailconfig_add")
SECRET = "Unique-Pa55word-7f3a"
ATTACHMENT_SECRET = "Attach-Secret-91b2"


def user_url(row):
    return reverse("admin:symfonia_mail_usermailconfig_change", args=[row.pk])


def show_url(model, pk, name="password"):
    return reverse(f"admin:symfonia_mail_{model}_show_secret", args=[pk, name])


def make_staff(username, *codenames, superuser=False):
    user = User.objects.create_user(username, f"{username}@firma.example", "pw",
                                    is_staff=True, is_superuser=superuser,
                                    first_name=username.title())
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


@pytest.fixture
def admin_user(db):
    return make_staff("admin", superuser=True)


@pytest.fixture
def other_admin(db):
    return make_staff("boss", superuser=True)


@pytest.fixture
def clerk(db):
    """Staff who may add/change/view their own user configuration and templates."""
    return make_staff("clerk", "add_usermailconfig", "change_usermailconfig",
                      "view_usermailconfig", "view_globalmailconfig",
                      "add_messagetemplate", "change_messagetemplate", "view_messagetemplate",
                      "view_maillog")


@pytest.fixture
def viewer(db):
    """View-only staff."""
    return make_staff("viewer", "view_usermailconfig", "view_globalmailconfig",
                      "view_messagetemplate")


def form_data(config, **overrides):
    """Return the POST data of a config change form holding *config*'s values."""
    data = {
        "transport": config.transport, "host": config.host, "port": config.port,
        "security": config.security, "timeout_ms": config.timeout_ms,
        "username": config.username, "password": "", "sender_email": config.sender_email,
        "sender_name": config.sender_name, "cc": config.cc, "bcc": config.bcc,
        "dsn_notify": [f for f in config.dsn_notify.split(",") if f],
        "attachment_password": "",
    }
    if config.verify_certificate:
        data["verify_certificate"] = "on"
    if isinstance(config, GlobalMailConfig):
        data["company_name"] = config.company_name
    else:
        data.update(user=config.user_id, scope=config.scope, showing=config.scope)
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def individual_row(user, server, **overrides):
    overrides = {"sender_email": f"{user.username}@firma.example",
                 "sender_name": user.username.title(), **overrides}
    values = config_values(server, **overrides)
    row = UserMailConfig(user=user, scope=Scope.INDIVIDUAL, **values)
    row.password_set_by = user
    row.full_clean()
    row.save()
    return row


# --- the global configuration page ---------------------------------------------------


def test_changelist_redirects_to_the_single_form(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:symfonia_mail_globalmailconfig_changelist"))
    assert response.status_code == 302
    assert response["Location"] == GLOBAL_URL


def test_global_form_shows_symfonia_sections_without_creating_a_row(client, admin_user):
    client.force_login(admin_user)
    response = client.get(GLOBAL_URL, headers={"Accept-Language": "en"})
    assert response.status_code == 200
    html = response.content.decode()
    for section in ("Transport", "SMTP access", "Sender", "Delivery notifications",
                    "Attachments", "Company"):
        assert section in html, section
    assert not GlobalMailConfig.objects.exists(), "a GET must not create the singleton"
    assert 'name="_test_smtp"' in html


def test_no_add_or_delete_for_the_singleton(client, admin_user, global_config):
    client.force_login(admin_user)
    assert client.get(reverse("admin:symfonia_mail_globalmailconfig_add")).status_code == 403
    delete = reverse("admin:symfonia_mail_globalmailconfig_delete", args=[1])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert GlobalMailConfig.objects.filter(pk=1).exists()


def test_saving_a_new_password_records_who_entered_it(client, admin_user, smtp_server):
    client.force_login(admin_user)
    values = GlobalMailConfig(**config_values(smtp_server, password=""))
    response = client.post(GLOBAL_URL, form_data(values, password=SECRET, _save="1"))
    assert response.status_code == 302, response.content.decode()[:3000]
    stored = GlobalMailConfig.objects.get()
    assert stored.password == SECRET
    assert stored.password_set_by == admin_user


def test_empty_password_keeps_the_stored_one_and_its_author(client, admin_user, other_admin,
                                                            global_config):
    global_config.password_set_by = admin_user
    global_config.save()
    client.force_login(other_admin)
    response = client.post(GLOBAL_URL, form_data(global_config, sender_name="Nowa", _save="1"))
    assert response.status_code == 302
    stored = GlobalMailConfig.objects.get()
    assert stored.password == global_config.password
    assert stored.password_set_by == admin_user
    assert stored.sender_name == "Nowa"


def test_clear_checkbox_removes_the_password(client, admin_user, global_config):
    client.force_login(admin_user)
    response = client.post(GLOBAL_URL, form_data(
        global_config, username="", clear_password="on", _save="1"))
    assert response.status_code == 302
    stored = GlobalMailConfig.objects.get()
    assert stored.password == ""
    assert stored.password_set_by is None


def test_new_value_and_clear_together_are_refused(client, admin_user, global_config):
    client.force_login(admin_user)
    response = client.post(GLOBAL_URL, form_data(
        global_config, password="x", clear_password="on", _save="1"))
    assert response.status_code == 200
    assert GlobalMailConfig.objects.get().password == global_config.password


def test_dsn_checkboxes_store_the_flags_and_refuse_an_invalid_mix(client, admin_user,
                                                                   global_config):
    client.force_login(admin_user)
    response = client.post(GLOBAL_URL, form_data(
        global_config, dsn_notify=["Delay", "OnSuccess"], _save="1"))
    assert response.status_code == 302
    assert GlobalMailConfig.objects.get().dsn_notify == "OnSuccess,Delay"
    response = client.post(GLOBAL_URL, form_data(
        global_config, dsn_notify=["Never", "OnFailure"], _save="1"))
    assert response.status_code == 200
    assert "nie można łączyć z innymi opcjami powiadomień" in response.content.decode()
    assert GlobalMailConfig.objects.get().dsn_notify == "OnSuccess,Delay"
    page = client.get(GLOBAL_URL).content.decode()
    assert 'data-dsn-group="exclusive"' in page and "symfonia_mail/admin.js" in page


# --- passwords never in another user's page ---------------------------------------------


def _set_secrets(config, by):
    config.password = SECRET
    config.attachment_password = ATTACHMENT_SECRET
    config.password_set_by = by
    config.attachment_password_set_by = by
    config.save()


@pytest.mark.parametrize("who", ["admin_user", "other_admin", "viewer"])
def test_global_page_never_contains_a_password(client, request, who, admin_user,
                                               global_config):
    _set_secrets(global_config, admin_user)
    client.force_login(request.getfixturevalue(who))
    html = client.get(GLOBAL_URL).content.decode()
    assert SECRET not in html and ATTACHMENT_SECRET not in html
    assert "gAAAAA" not in html  # nor the ciphertext


def test_view_only_page_shows_the_state_not_the_value(client, viewer, admin_user,
                                                      global_config):
    _set_secrets(global_config, admin_user)
    client.force_login(viewer)
    response = client.get(GLOBAL_URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert SECRET not in html
    assert "admin" in html  # "entered by admin"
    assert 'name="_test_smtp"' not in html and "show-secret" not in html


def test_user_page_never_contains_the_password_for_others(client, clerk, admin_user,
                                                          smtp_server):
    row = individual_row(clerk, smtp_server, password=SECRET)
    client.force_login(admin_user)
    html = client.get(user_url(row)).content.decode()
    assert SECRET not in html
    assert "show-secret" not in html  # the admin did not enter it: no Show button
    list_html = client.get(USER_LIST_URL).content.decode()
    assert SECRET not in list_html


def _store_foreign_ciphertext():
    """Write a password encrypted with another key, bypassing the field (raw SQL)."""
    from cryptography.fernet import Fernet
    from django.db import connection

    token = Fernet(Fernet.generate_key()).encrypt(b"the-real-password").decode()
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(GlobalMailConfig._meta.db_table)
        cursor.execute(f"UPDATE {table} SET password = %s WHERE id = 1", [token])  # noqa: S608
    return token


def test_unreadable_secret_is_never_rendered(client, admin_user, global_config):
    token = _store_foreign_ciphertext()
    stored = GlobalMailConfig.objects.get()
    assert isinstance(stored.password, UnreadableSecret)
    client.force_login(admin_user)
    html = client.get(GLOBAL_URL).content.decode()
    assert token not in html and token[:20] not in html
    assert "FIELD_ENCRYPTION_KEY" in html


# --- Show ----------------------------------------------------------------------------------


def test_show_reveals_the_password_to_the_user_who_entered_it(client, admin_user,
                                                              global_config):
    _set_secrets(global_config, admin_user)
    client.force_login(admin_user)
    page = client.get(GLOBAL_URL).content.decode()
    assert show_url("globalmailconfig", 1) in page
    response = client.post(show_url("globalmailconfig", 1))
    assert response.status_code == 200
    assert response.json() == {"value": SECRET}
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    response = client.post(show_url("globalmailconfig", 1, "attachment_password"))
    assert response.json() == {"value": ATTACHMENT_SECRET}


def test_show_refuses_another_superuser(client, admin_user, other_admin, global_config):
    _set_secrets(global_config, admin_user)
    client.force_login(other_admin)
    assert show_url("globalmailconfig", 1) not in client.get(GLOBAL_URL).content.decode()
    response = client.post(show_url("globalmailconfig", 1))
    assert response.status_code == 403
    assert SECRET not in response.content.decode()


def test_show_is_post_only(client, admin_user, global_config):
    _set_secrets(global_config, admin_user)
    client.force_login(admin_user)
    response = client.get(show_url("globalmailconfig", 1))
    assert response.status_code == 405
    assert SECRET not in response.content.decode()


def test_show_needs_csrf(admin_user, global_config):
    from django.test import Client

    _set_secrets(global_config, admin_user)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    response = strict.post(show_url("globalmailconfig", 1))
    assert response.status_code == 403
    assert SECRET not in response.content.decode()


def test_show_refuses_a_view_only_enterer(client, viewer, global_config):
    # The viewer entered the password once (e.g. before losing the change permission).
    _set_secrets(global_config, viewer)
    client.force_login(viewer)
    assert client.post(show_url("globalmailconfig", 1)).status_code == 403


def test_show_refuses_anonymous(client, admin_user, global_config):
    _set_secrets(global_config, admin_user)
    response = client.post(show_url("globalmailconfig", 1))
    assert response.status_code == 302  # to the login page
    assert SECRET not in response.content.decode()


def test_show_on_a_user_row_for_its_owner(client, clerk, smtp_server):
    row = individual_row(clerk, smtp_server, password=SECRET)
    client.force_login(clerk)
    assert client.post(show_url("usermailconfig", row.pk)).json() == {"value": SECRET}


def test_show_refuses_an_unreadable_secret(client, admin_user, global_config):
    global_config.password_set_by = admin_user
    global_config.save()
    token = _store_foreign_ciphertext()
    client.force_login(admin_user)
    response = client.post(show_url("globalmailconfig", 1))
    assert response.status_code == 403
    assert token not in response.content.decode()


# --- user configurations: who sees and edits what -----------------------------------------


def test_non_superuser_sees_only_their_own_row(client, clerk, admin_user, smtp_server):
    own = individual_row(clerk, smtp_server)
    other = individual_row(admin_user, smtp_server)
    client.force_login(clerk)
    response = client.get(USER_LIST_URL)
    assert list(response.context["cl"].queryset) == [own]
    assert client.get(user_url(other)).status_code in (302, 404)
    post = client.post(user_url(other), form_data(other, sender_name="hack", _save="1"))
    assert post.status_code in (302, 403, 404)
    assert UserMailConfig.objects.get(pk=other.pk).sender_name == "Admin"


def test_superuser_sees_all_rows(client, clerk, admin_user, smtp_server):
    individual_row(clerk, smtp_server)
    individual_row(admin_user, smtp_server)
    client.force_login(admin_user)
    assert client.get(USER_LIST_URL).context["cl"].result_count == 2


def test_non_superuser_creates_only_their_own_row(client, clerk, admin_user, smtp_server):
    client.force_login(clerk)
    page = client.get(USER_ADD_URL).content.decode()
    assert 'name="user"' not in page
    values = UserMailConfig(**config_values(smtp_server, sender_email="clerk@firma.example"))
    data = form_data(values, user=admin_user.pk, scope="individual", showing="individual",
                     password=SECRET, _save="1")
    response = client.post(USER_ADD_URL, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    row = UserMailConfig.objects.get()
    assert row.user == clerk  # the posted user is ignored
    assert row.password_set_by == clerk
    # One row per user: no second add.
    assert client.get(USER_ADD_URL).status_code == 403


def test_view_only_staff_cannot_change_or_run_actions(client, viewer, smtp_server):
    row = individual_row(viewer, smtp_server, password=SECRET)
    client.force_login(viewer)
    page = client.get(user_url(row))
    html = page.content.decode()
    assert page.status_code == 200 and SECRET not in html
    assert 'name="_test_smtp"' not in html and 'name="_reload_scope"' not in html
    for button in ("_test_smtp", "_reload_scope", "_save"):
        response = client.post(user_url(row), form_data(row, **{button: "1"}))
        assert response.status_code == 403, button
    changelist = client.get(USER_LIST_URL)
    assert "test_smtp" not in changelist.content.decode()
    response = client.post(USER_LIST_URL, {"action": "reload_scope",
                                           "_selected_action": [row.pk]})
    assert response.status_code in (200, 302)
    assert len(smtp_server.messages) == 0
    for action in ("test_smtp", "reload_scope"):
        response = client.post(USER_LIST_URL, {"action": action, "_selected_action": [row.pk]})
        assert len(smtp_server.messages) == 0


def test_buttons_never_act_on_get(client, admin_user, global_config, smtp_server):
    client.force_login(admin_user)
    response = client.get(GLOBAL_URL + "?_test_smtp=1&_reload_scope=1")
    assert response.status_code == 200
    assert smtp_server.messages == []


def test_buttons_need_csrf(admin_user, global_config, smtp_server):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    response = strict.post(GLOBAL_URL, form_data(global_config, _test_smtp="1"))
    assert response.status_code == 403
    assert smtp_server.messages == []


# --- Reload scope -----------------------------------------------------------------------------


def test_reload_on_the_form_shows_global_values_without_saving(client, admin_user, clerk,
                                                               global_config, smtp_server):
    row = individual_row(clerk, smtp_server, host="127.0.0.1", sender_name="Own Name")
    client.force_login(admin_user)
    before = UserMailConfig.objects.filter(pk=row.pk).values().get()
    response = client.post(user_url(row), form_data(row, scope="global", _reload_scope="1"))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.showing == "global"
    assert form["sender_email"].value() == global_config.sender_email
    assert form["sender_name"].value() == global_config.sender_name
    assert form.fields["host"].disabled
    assert UserMailConfig.objects.filter(pk=row.pk).values().get() == before
    html = response.content.decode()
    assert global_config.sender_email in html
    assert "Biuro Firma" in html


def test_saving_global_keeps_individual_values_then_reload_restores_them(
        client, admin_user, clerk, global_config, smtp_server):
    row = individual_row(clerk, smtp_server, sender_name="Own Name", dsn_notify="OnFailure",
                         cc="szef@firma.example")
    client.force_login(admin_user)
    # Switch to global: reload shows the global values, then Save.
    shown = client.post(user_url(row), form_data(row, scope="global", _reload_scope="1"))
    data = {k: v for k, v in form_data(row).items()
            if k in ("user", "scope")}  # disabled fields are not posted by a browser
    data.update(scope="global", showing=shown.context["adminform"].form.showing, _save="1")
    response = client.post(user_url(row), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    stored = UserMailConfig.objects.get(pk=row.pk)
    assert stored.scope == "global"
    assert stored.sender_name == "Own Name" and stored.password == row.password
    assert (stored.dsn_notify, stored.cc) == ("OnFailure", "szef@firma.example")
    assert stored.password_set_by == clerk
    # Back: choose "only for this user" and Reload: the stored individual values come back.
    response = client.post(user_url(row), {**data, "scope": "individual",
                                           "_reload_scope": "1"})
    form = response.context["adminform"].form
    assert form.showing == "individual" and not form.fields["host"].disabled
    assert form["sender_name"].value() == "Own Name"
    assert form["sender_email"].value() == "clerk@firma.example"
    assert UserMailConfig.objects.get(pk=row.pk).scope == "global"  # still not saved
    assert "Own Name" in response.content.decode() or "clerk@firma.example" in (
        response.content.decode())


def test_reload_on_the_add_form_of_a_non_superuser(client, clerk, global_config):
    client.force_login(clerk)
    response = client.post(USER_ADD_URL, {"scope": "global", "_reload_scope": "1"})
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.showing == "global"
    assert form["sender_email"].value() == global_config.sender_email
    response = client.post(USER_ADD_URL, {"scope": "individual", "_reload_scope": "1"})
    assert response.context["adminform"].form["sender_email"].value() in ("", None)
    assert not UserMailConfig.objects.exists()


def test_reload_scope_action_restores_individual_configurations(client, admin_user, clerk,
                                                                global_config, smtp_server):
    row = individual_row(clerk, smtp_server)
    UserMailConfig.objects.filter(pk=row.pk).update(scope="global")
    empty = UserMailConfig.objects.create(user=admin_user, scope="global", host="")
    client.force_login(admin_user)
    response = client.post(USER_LIST_URL, {"action": "reload_scope",
                                           "_selected_action": [row.pk, empty.pk]},
                           follow=True)
    assert UserMailConfig.objects.get(pk=row.pk).scope == "individual"
    assert UserMailConfig.objects.get(pk=empty.pk).scope == "global"
    texts = [str(m) for m in response.context["messages"]]
    assert any("clerk" in t and "clerk@firma.example" in t for t in texts), texts
    assert any("admin" in t for t in texts if "clerk@" not in t), texts


def test_global_form_has_no_reload_and_a_stray_reload_post_saves_nothing(client, admin_user,
                                                                         global_config):
    # Issue 12 (9): the global page has no scope to choose, so no "Reload scope".
    client.force_login(admin_user)
    html = client.get(GLOBAL_URL).content.decode()
    assert 'name="_test_smtp"' in html and 'name="_reload_scope"' not in html
    response = client.post(GLOBAL_URL, form_data(global_config, sender_name="Unsaved",
                                                 _reload_scope="1"))
    assert response.status_code == 400
    assert GlobalMailConfig.objects.get().sender_name == "Biuro Firma"


# --- templates and log --------------------------------------------------------------------


def test_template_admin_global_read_only_for_non_superuser(client, clerk, admin_user):
    shared = MessageTemplate.objects.create(key="invoice", subject="Faktura {numer}",
                                            body="Treść")
    client.force_login(clerk)
    url = reverse("admin:symfonia_mail_messagetemplate_change", args=[shared.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="subject"' not in page.content.decode()  # read-only
    response = client.post(url, {"key": "invoice", "subject": "X", "body": "Y"})
    assert response.status_code == 403
    # Own template with the same key: allowed, owner forced to the clerk.
    add = reverse("admin:symfonia_mail_messagetemplate_add")
    response = client.post(add, {"key": "invoice", "subject": "Moja {numer}", "body": "B",
                                 "owner": admin_user.pk, "_save": "1"})
    assert response.status_code == 302, response.content.decode()[:2000]
    own = MessageTemplate.objects.get(owner__isnull=False)
    assert own.owner == clerk
    # A second own template with the same key is refused by the form.
    response = client.post(add, {"key": "invoice", "subject": "Again", "body": "B"})
    assert response.status_code == 200
    assert MessageTemplate.objects.filter(owner=clerk).count() == 1


def test_template_form_has_macro_reference_and_preview(client, admin_user):
    client.force_login(admin_user)
    html = client.get(reverse("admin:symfonia_mail_messagetemplate_add")).content.decode()
    for macro in ("{numer}", "{numery}", "{umowa}", "{z dnia}", "{kontrahent}", "{firma}",
                  "{wysyłający}", "{data od}", "{data do}", "{wystawiający}"):
        assert macro in html, macro
    preview = reverse("admin:symfonia_mail_messagetemplate_preview")
    assert preview in html
    response = client.post(preview, {"subject": "Faktura {numer}", "body": "Dla {kontrahent}"})
    assert response.status_code == 200
    assert "FV/12/2026" in response.content.decode()
    assert client.get(preview).status_code == 405


def test_template_warnings_are_shown_after_saving(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("admin:symfonia_mail_messagetemplate_add"),
                           {"key": "invoice", "subject": "Faktura {numr}", "body": "B",
                            "_save": "1"}, follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert any("{numr}" in t for t in texts), texts


def test_mail_log_is_read_only_and_filterable(client, admin_user):
    from symfonia_mail.models import MailLog

    entry = MailLog.objects.create(status="failed", error="550 5.1.1 no such user",
                                   scope="global", transport="smtp", subject="Faktura 1",
                                   recipients="a@example.com", sent_by=admin_user)
    client.force_login(admin_user)
    changelist = reverse("admin:symfonia_mail_maillog_changelist")
    response = client.get(changelist, {"status__exact": "failed", "q": "a@example.com"})
    assert response.context["cl"].result_count == 1
    detail = client.get(reverse("admin:symfonia_mail_maillog_change", args=[entry.pk]))
    html = detail.content.decode()
    assert "550 5.1.1 no such user" in html
    assert 'name="error"' not in html  # read-only
    assert client.get(reverse("admin:symfonia_mail_maillog_add")).status_code == 403


def test_reminders_sent_are_listed_read_only(client, admin_user, clerk):
    from symfonia_mail.models import ReminderRecord

    mine = ReminderRecord.objects.create(contractor_key="sales.contractor:1",
                                         contractor_name="ACME", documents="FV/1\nFV/2",
                                         sent_on="2026-11-26", sent_by=clerk)
    ReminderRecord.objects.create(contractor_key="sales.contractor:2", contractor_name="Żuraw",
                                  documents="FV/3", sent_on="2026-11-26", sent_by=admin_user)
    clerk.user_permissions.add(Permission.objects.get(codename="view_reminderrecord"))
    client.force_login(clerk)
    changelist = reverse("admin:symfonia_mail_reminderrecord_changelist")
    response = client.get(changelist, {"q": "FV"})
    assert list(response.context["cl"].queryset) == [mine]
    assert "FV/1, FV/2" in response.content.decode()
    detail = client.get(reverse("admin:symfonia_mail_reminderrecord_change", args=[mine.pk]))
    assert detail.status_code == 200 and 'name="documents"' not in detail.content.decode()
