"""Test SMTP from the admin, against real (and really misbehaving) servers on 127.0.0.1."""

import html

import pytest
from django.contrib.auth.models import User
from django.utils import translation
from django.utils.html import strip_tags

from symfonia_mail.diagnostics import smtp_test as diagnostics
from symfonia_mail.models import GlobalMailConfig, Scope, UserMailConfig

from .conftest import config_values
from .smtpd import SilentServer, dead_port
from .test_admin import GLOBAL_URL, USER_LIST_URL, form_data, individual_row, user_url

pytestmark = pytest.mark.django_db

ENGLISH = {"Accept-Language": "en"}
JSON = {"Accept-Language": "en", "Accept": "application/json"}
GMAIL_535 = (
    "535-5.7.8 Username and Password not accepted. Learn more at\r\n"
    "535 5.7.8  https://support.google.com/mail/?p=BadCredentials d2sm1234567wrb.1 - gsmtp"
)
GMAIL_534 = (
    "534-5.7.9 Application-specific password required. Learn more at\r\n"
    "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor d2sm1234567wrb.1 - gsmtp"
)


@pytest.fixture
def admin_client(client, db):
    user = User.objects.create_superuser("admin", "admin@firma.example", "pw")
    client.force_login(user)
    client.user = user
    return client


def hint(code):
    with translation.override("en"):
        return str(diagnostics.CODES[code])


def messages_of(response):
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def plain(html_text):
    """Return what a person reads in an admin message (tags out, entities decoded)."""
    return html.unescape(strip_tags(html_text))


def stored_row(model=GlobalMailConfig, **lookup):
    return model.objects.filter(**(lookup or {"pk": 1})).values().get()


def test_unsaved_values_are_tested_and_the_row_is_unchanged(admin_client, global_config,
                                                             smtp_server):
    before = stored_row()
    # A typed (unsaved) password and sender name, and a wrong stored password: the
    # test must use the form's values.
    GlobalMailConfig.objects.filter(pk=1).update(password="stored-but-wrong")
    before = stored_row()
    data = form_data(global_config, sender_name="Nie zapisano", cc="kopia@firma.example",
                     password=smtp_server.password, _test_smtp="1")
    response = admin_client.post(GLOBAL_URL, data, headers=ENGLISH)
    assert response.status_code == 200
    (level, text), = messages_of(response)
    assert level == "success", text
    for step in ("Connect", "STARTTLS", "Login", "Recipients (RCPT TO)", "Message (DATA)"):
        assert step in text, step
    assert " ms)" in text
    assert stored_row() == before, "Test SMTP must not save anything"
    received, = smtp_server.messages
    assert set(received.rcpt_tos) == {"biuro@firma.example", "kopia@firma.example"}
    assert "Nie zapisano" in received.message["From"]
    # The page comes back with the unsaved values still in the form.
    assert response.context["adminform"].form["sender_name"].value() == "Nie zapisano"
    assert smtp_server.password not in response.content.decode()


def test_json_answer_for_the_page_script(admin_client, global_config, smtp_server):
    before = stored_row()
    response = admin_client.post(GLOBAL_URL, form_data(global_config, _test_smtp="1"),
                                 headers=JSON)
    assert response.status_code == 200
    result = response.json()
    assert result["level"] == "success"
    assert "biuro@firma.example" in result["html"]
    assert stored_row() == before
    assert len(smtp_server.messages) == 1


def test_an_invalid_form_is_not_tested(admin_client, global_config, smtp_server):
    response = admin_client.post(GLOBAL_URL, form_data(global_config, cc="not an address",
                                                       _test_smtp="1"), headers=JSON)
    result = response.json()
    assert result["level"] == "error" and "cc" in result["errors"]
    assert smtp_server.messages == []


def _failure(admin_client, **values):
    """Post Test SMTP for the global form with *values*; return (level, text, raw HTML)."""
    config = GlobalMailConfig(**values)
    # A stored row to compare with. (Without one, resolving the "test" template calls
    # GlobalMailConfig.get_solo(), which creates the defaults row; reported to the lead.)
    GlobalMailConfig.get_solo()
    before = list(GlobalMailConfig.objects.values())
    response = admin_client.post(GLOBAL_URL, form_data(config, password=values.get(
        "password", ""), _test_smtp="1"), headers=ENGLISH)
    assert response.status_code == 200
    (level, text), = messages_of(response)
    assert list(GlobalMailConfig.objects.values()) == before
    return level, plain(text), text


def test_dead_port_gives_the_connection_refused_hint(admin_client):
    level, text, raw = _failure(admin_client, transport="smtp", host="127.0.0.1", port=dead_port(),
                           security="none", timeout_ms=2000, sender_email="biuro@firma.example")
    assert level == "error"
    assert hint("connection_refused") in text


def test_ssl_on_a_plain_server_gives_the_tls_mismatch_hint(admin_client, make_smtp_server):
    server = make_smtp_server(tls=None)
    level, text, raw = _failure(admin_client, **config_values(server, security="ssl", username="",
                                                         password=""))
    assert level == "error"
    assert "WRONG_VERSION_NUMBER" in text
    assert hint("tls_mismatch") in text


def test_gmail_refusal_gives_the_app_password_hint_and_link(admin_client, make_smtp_server):
    server = make_smtp_server(tls="starttls", users={"mailer": "right"}, auth_failure=GMAIL_534)
    level, text, raw = _failure(admin_client, **config_values(server, password="normal-password"))
    assert level == "error"
    assert "two-step verification" in text
    assert 'href="https://support.google.com/accounts/answer/185833"' in raw
    assert "normal-password" not in raw


def test_wrong_password_gives_the_login_refused_hint(admin_client, make_smtp_server):
    server = make_smtp_server(tls="starttls", users={"mailer": "right"})
    level, text, raw = _failure(admin_client, **config_values(server, password="wrong-one"))
    assert hint("login_refused") in text
    assert "wrong-one" not in text


def test_gmail_535_wrong_password_gives_the_login_refused_hint(admin_client,
                                                               make_smtp_server):
    server = make_smtp_server(tls="starttls", users={"mailer": "right"}, auth_failure=GMAIL_535)
    level, text, raw = _failure(admin_client, **config_values(server, password="wrong-one"))
    assert level == "error"
    assert "Username and Password not accepted" in text
    assert hint("login_refused") in text
    assert "app password" in text and "wrong-one" not in text


def test_dns_name_not_found_gives_its_hint(admin_client):
    # .invalid never resolves (RFC 2606): no connection to any other address.
    level, text, raw = _failure(admin_client, transport="smtp", host="nonexistent.invalid",
                           port=587, security="starttls", timeout_ms=2000,
                           sender_email="biuro@firma.example")
    assert hint("dns_not_found") in text


def test_silent_server_gives_the_timeout_hint(admin_client):
    server = SilentServer()
    try:
        level, text, raw = _failure(admin_client, transport="smtp", host=server.host,
                               port=server.port, security="none", timeout_ms=300,
                               sender_email="biuro@firma.example")
    finally:
        server.stop()
    assert hint("timeout") in text


def test_untrusted_certificate_gives_its_hint(admin_client, make_smtp_server):
    import trustme

    server = make_smtp_server(tls="ssl", certificate=trustme.CA().issue_cert("127.0.0.1"))
    level, text, raw = _failure(admin_client, **config_values(server, security="ssl", username="",
                                                         password=""))
    assert "CERTIFICATE_VERIFY_FAILED" in text
    assert hint("certificate_not_trusted") in text


def test_refused_recipient_gives_its_hint(admin_client, make_smtp_server):
    server = make_smtp_server(tls="starttls", users={"mailer": "pw-123456"},
                              refuse_rcpt={"zly@firma.example": "550 5.1.1 No such user"})
    level, text, raw = _failure(admin_client, **config_values(server, cc="zly@firma.example"))
    assert level == "error"
    assert "550 5.1.1 No such user" in text
    assert hint("recipient_refused") in text
    assert len(server.messages) == 1  # the accepted sender address still got it


def test_user_form_tests_its_unsaved_individual_values(admin_client, global_config,
                                                       make_smtp_server, smtp_server):
    clerk = User.objects.create_user("clerk", is_staff=True)
    own_server = make_smtp_server(tls="starttls", users={"clerk": "clerk-pw-1"})
    row = individual_row(clerk, own_server)
    before = stored_row(UserMailConfig, pk=row.pk)
    response = admin_client.post(user_url(row), form_data(
        row, sender_name="Zmienione", _test_smtp="1"), headers=JSON)
    assert response.json()["level"] == "success", response.json()["html"]
    assert stored_row(UserMailConfig, pk=row.pk) == before
    received, = own_server.messages
    assert received.rcpt_tos == ["clerk@firma.example"]
    assert "Zmienione" in received.message["From"]
    assert smtp_server.messages == []


def test_user_form_showing_global_tests_the_global_configuration(admin_client, global_config,
                                                                 make_smtp_server,
                                                                 smtp_server):
    clerk = User.objects.create_user("clerk", is_staff=True)
    own_server = make_smtp_server(tls="starttls", users={"clerk": "clerk-pw-1"})
    row = individual_row(clerk, own_server)
    UserMailConfig.objects.filter(pk=row.pk).update(scope=Scope.GLOBAL)
    data = {"user": clerk.pk, "scope": "global", "showing": "global", "_test_smtp": "1"}
    response = admin_client.post(user_url(row), data, headers=JSON)
    assert response.json()["level"] == "success", response.json()["html"]
    assert len(smtp_server.messages) == 1 and own_server.messages == []


def test_changelist_action_tests_each_selected_configuration(admin_client, global_config,
                                                             make_smtp_server, smtp_server):
    clerk = User.objects.create_user("clerk", is_staff=True)
    own_server = make_smtp_server(tls="starttls", users={"clerk": "clerk-pw-1"})
    own = individual_row(clerk, own_server)
    follower = UserMailConfig.objects.create(user=User.objects.create_user("anna"),
                                             scope=Scope.GLOBAL)
    response = admin_client.post(USER_LIST_URL, {
        "action": "test_smtp", "_selected_action": [own.pk, follower.pk]},
        headers=ENGLISH, follow=True)
    texts = messages_of(response)
    assert len(texts) == 2
    assert all(level == "success" for level, _text in texts), texts
    assert any("anna (follows the global configuration)" in text for _l, text in texts)
    assert len(own_server.messages) == 1 and len(smtp_server.messages) == 1


def test_stored_password_never_follows_a_changed_server(client, global_config, smtp_server,
                                                        make_smtp_server):
    # Another superuser may not "Show" the password; pointing the unsaved form at a
    # server they control and pressing Test SMTP must not hand it over either.
    entered_by = User.objects.create_superuser("admin", "admin@firma.example", "pw")
    global_config.password_set_by = entered_by
    global_config.save()
    other = User.objects.create_superuser("szef", "szef@firma.example", "pw")
    client.force_login(other)
    capture = make_smtp_server(tls="starttls", users={"mailer": "anything"})
    for button in ("_test_smtp", "_save"):
        response = client.post(GLOBAL_URL, form_data(global_config, port=capture.port,
                                                     **{button: "1"}), headers=ENGLISH)
        assert response.status_code == 200, button
        assert "enter the password again" in response.content.decode()
    assert capture.login_attempts == 0 and capture.messages == []
    assert GlobalMailConfig.objects.get().port == smtp_server.port
    # With a password typed in, the change is the person's own: tested and saved.
    response = client.post(GLOBAL_URL, form_data(global_config, port=capture.port,
                                                 password="anything", _save="1"))
    assert response.status_code == 302
    stored = GlobalMailConfig.objects.get()
    assert (stored.port, stored.password, stored.password_set_by) == (
        capture.port, "anything", other)


def test_turning_certificate_checks_off_needs_the_password_again(client, global_config,
                                                                 smtp_server):
    # Without checks anyone who can impersonate the server receives the stored password.
    entered_by = User.objects.create_superuser("admin", "admin@firma.example", "pw")
    global_config.password_set_by = entered_by
    global_config.save()
    client.force_login(User.objects.create_superuser("szef", "szef@firma.example", "pw"))
    data = form_data(global_config, _test_smtp="1")
    del data["verify_certificate"]  # an unticked checkbox is absent from the POST
    response = client.post(GLOBAL_URL, data, headers=ENGLISH)
    assert "enter the password again" in response.content.decode()
    assert smtp_server.login_attempts == 0
    assert GlobalMailConfig.objects.get().verify_certificate is True
