"""Issue 19, the administrator's first hour (second pass), through Django's test client."""

import re

import pytest
from django.urls import reverse

from symfonia_mail.models import GlobalMailConfig, MailLog, MessageTemplate, UserMailConfig

from .conftest import config_values
from .test_admin import GLOBAL_URL, form_data, individual_row, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(db):
    return make_staff("admin", superuser=True)


# --- item 10: the rate limit has a field ---------------------------------------------------


def test_rate_limit_is_edited_on_both_configuration_pages(client, admin_user, smtp_server):
    client.force_login(admin_user)
    html = client.get(GLOBAL_URL, headers={"Accept-Language": "en"}).content.decode()
    assert 'name="rate_limit_per_minute"' in html
    assert "Sending limit" in html and "Microsoft 365 allows 30" in html
    values = GlobalMailConfig(**config_values(smtp_server))
    response = client.post(GLOBAL_URL, form_data(values, password=smtp_server.password,
                                                 rate_limit_per_minute="30", _save="1"))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert GlobalMailConfig.objects.get().rate_limit_per_minute == 30

    row = individual_row(admin_user, smtp_server)
    change = reverse("admin:symfonia_mail_usermailconfig_change", args=[row.pk])
    assert 'name="rate_limit_per_minute"' in client.get(change).content.decode()
    response = client.post(change, form_data(row, rate_limit_per_minute="12", _save="1"))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert UserMailConfig.objects.get().rate_limit_per_minute == 12
    # Empty means no limit.
    response = client.post(change, form_data(row, rate_limit_per_minute="", _save="1"))
    assert UserMailConfig.objects.get().rate_limit_per_minute is None


# --- item 9: the preview page under a strict Content-Security-Policy -------------------------

PREVIEW_URL = reverse("admin:symfonia_mail_messagetemplate_preview")


def test_preview_page_has_no_inline_style_and_frames_the_html_part_by_url(client, admin_user):
    client.force_login(admin_user)
    body = "<html><head><style>p {color: red}</style></head><p>{wysyłający}</p></html>"
    response = client.post(PREVIEW_URL, {"subject": "Faktura {numer}", "body": body})
    page = response.content.decode()
    assert "<style" not in page and " style=" not in page
    assert "symfonia_mail/preview.css" in page
    assert "srcdoc" not in page
    frame = re.search(r'<iframe id="preview-html" sandbox="" [^>]*src="([^"]+)"', page)
    assert frame, page
    part = client.get(frame.group(1))
    assert part.status_code == 200
    assert "p {color: red}" in part.content.decode()
    policy = part["Content-Security-Policy"]
    assert policy.startswith("sandbox;") and "style-src 'unsafe-inline'" in policy
    assert "script-src" not in policy and "default-src 'none'" in policy
    assert part["X-Frame-Options"] == "SAMEORIGIN"
    # Another staff user's session does not know the token.
    client.force_login(make_staff("boss", superuser=True))
    assert client.get(frame.group(1)).status_code == 404
    assert client.post(frame.group(1)).status_code == 405


# --- item 15: Connect keeps what was typed; the state follows the chosen method -----------


def test_connect_saves_the_typed_values_then_opens_the_provider(client, admin_user, smtp_server,
                                                               xoauth2_server, token_endpoint):
    from urllib.parse import parse_qs, urlsplit

    from .conftest import oauth_config_values, save_global
    from .test_oauth_admin import CALLBACK_URL, consent

    save_global(smtp_server)  # stored: password sign-in at another server
    client.force_login(admin_user)
    typed = GlobalMailConfig(**oauth_config_values(xoauth2_server, token_endpoint))
    data = form_data(typed, auth_method="microsoft365", oauth_tenant=typed.oauth_tenant,
                     oauth_client_id=typed.oauth_client_id,
                     oauth_client_secret=typed.oauth_client_secret,
                     _oauth_connect="microsoft365")
    response = client.post(GLOBAL_URL, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    location = urlsplit(response["Location"])
    assert location.path == f"/{token_endpoint.tenant}/oauth2/v2.0/authorize"
    stored = GlobalMailConfig.objects.get()
    assert (stored.auth_method, stored.oauth_client_id, stored.port) == (
        "microsoft365", token_endpoint.client_id, xoauth2_server.port)
    assert stored.oauth_client_secret == token_endpoint.client_secret
    assert stored.oauth_client_secret_set_by == admin_user
    assert stored.password == ""  # the password (hidden with OAuth2) does not follow the server
    path, back = consent(response["Location"])
    assert path == CALLBACK_URL and back["state"] == parse_qs(location.query)["state"]
    client.get(path, {k: v[0] for k, v in back.items()})
    assert GlobalMailConfig.objects.get().oauth_account == token_endpoint.mailbox


def test_connect_with_an_invalid_form_shows_it_again_with_the_typed_values(client, admin_user,
                                                                         smtp_server):
    from .conftest import save_global

    save_global(smtp_server)
    client.force_login(admin_user)
    data = form_data(GlobalMailConfig.objects.get(), auth_method="microsoft365",
                     oauth_client_id="typed-client-id", oauth_tenant="bad tenant!",
                     _oauth_connect="microsoft365")
    response = client.post(GLOBAL_URL, data)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="typed-client-id"' in page and "errorlist" in page
    assert GlobalMailConfig.objects.get().auth_method == "password"


def test_connect_is_offered_on_the_add_form_and_states_follow_the_method(client, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse("admin:symfonia_mail_usermailconfig_add"),
                      headers={"Accept-Language": "en"}).content.decode()
    assert 'name="_oauth_connect" value="microsoft365"' in page
    assert 'data-for-method="password">Not used: the sign-in method is the password.' in page
    assert 'data-for-method="" hidden>Not connected yet.' in page


# --- item 17: a new template starts from the built-in text --------------------------------

TEMPLATE_ADD_URL = reverse("admin:symfonia_mail_messagetemplate_add")
BUILT_IN_URL = reverse("admin:symfonia_mail_messagetemplate_built_in_text")


def test_add_template_with_a_key_starts_from_the_built_in_text(client, admin_user):
    client.force_login(admin_user)
    response = client.get(TEMPLATE_ADD_URL, {"key": "invoice"})
    form = response.context["adminform"].form
    subject, body = form.initial["subject"], form.initial["body"]
    assert subject.startswith("Faktura {numer} z dnia {z dnia}")
    assert "{numer}" in body and "{wysyłający}" in body and "{%" not in body
    assert 'value="Faktura {numer}' in response.content.decode()
    assert "Zacznij od wbudowanego tekstu" in response.content.decode()
    # Saved as it is, it is a valid template that the kind can fill.
    saved = client.post(TEMPLATE_ADD_URL, {"key": "invoice", "owner": "", "subject": subject,
                                           "body": body, "_save": "1"})
    assert saved.status_code == 302
    assert MessageTemplate.objects.get(key="invoice").body == body.strip()


def test_built_in_text_answers_the_page_script(client, admin_user):
    client.force_login(admin_user)
    text = client.get(BUILT_IN_URL, {"key": "payment_reminder"},
                      headers={"Accept-Language": "en"}).json()
    assert "{numery}" in text["body"] and "{%" not in text["body"] + text["subject"]
    assert client.get(BUILT_IN_URL, {"key": "no-such-kind"}).status_code == 404
    client.force_login(make_staff("nobody-special"))  # staff without template permissions
    assert client.get(BUILT_IN_URL, {"key": "invoice"}).status_code == 403


# --- item 16: Polish that reads right ------------------------------------------------------

USER_ADD_URL = reverse("admin:symfonia_mail_usermailconfig_add")
EMPTY_OPTION_RE = re.compile(r'<option value=""[^>]*>([^<]*)</option>')


def test_our_selects_have_a_translated_empty_choice(client, admin_user):
    MessageTemplate.objects.create(key="test", subject="Test", body="Test {firma}")
    MailLog.objects.create(status="sent", scope="global", transport="smtp", subject="Test")
    client.force_login(admin_user)
    for target in (TEMPLATE_ADD_URL, USER_ADD_URL,
                   reverse("admin:symfonia_mail_maillog_changelist"),
                   reverse("admin:symfonia_mail_messagetemplate_changelist")):
        page = client.get(target).content.decode()
        empty = set(EMPTY_OPTION_RE.findall(page))
        # Not "---------" nor "- Select an option -" (an autocomplete's empty option is blank).
        assert empty <= {"— wybierz —", ""}, (target, empty)
        assert "— wybierz —" in empty or target == USER_ADD_URL, (target, empty)


def test_sales_admin_names_the_model_in_the_nominative(client, admin_user):
    from sales.models import Contractor

    Contractor.objects.create(name="Firma Demo", emails="demo@firma.example")
    client.force_login(admin_user)
    changelist = client.get("/admin/sales/contractor/").content.decode()
    assert "<h1>Kontrahenci</h1>" in changelist
    assert "Wybierz kontrahent" not in changelist and "wybrane(-nych)" not in changelist
    assert "Usuń zaznaczone: kontrahenci" in changelist
    assert "Dodaj kontrahent" not in changelist and "Nowy kontrahent" in changelist
    add = client.get("/admin/sales/contractor/add/").content.decode()
    assert "<h1>Nowy kontrahent</h1>" in add
    response = client.post("/admin/sales/contractor/add/", {
        "name": "ACME sp. z o.o.", "emails": "biuro@acme.example",
        "invoices-TOTAL_FORMS": "0", "invoices-INITIAL_FORMS": "0"}, follow=True)
    text = response.content.decode()
    assert Contractor.objects.filter(name="ACME sp. z o.o.").exists(), text[:3000]
    assert "Dodano: kontrahent „ACME sp. z o.o.”." in text
    assert "został(a)" not in text


def test_our_models_saved_messages_read_right(client, admin_user):
    client.force_login(admin_user)
    response = client.post(TEMPLATE_ADD_URL, {"key": "test", "owner": "", "subject": "Test",
                                              "body": "Test {firma}", "_continue": "1"},
                           follow=True)
    text = response.content.decode()
    assert "Dodano: szablon wiadomości „" in text and "został(a)" not in text
    assert "<h1>Szablon wiadomości</h1>" in text or "Szablon wiadomości</h1>" in text
    template = MessageTemplate.objects.get()
    change = reverse("admin:symfonia_mail_messagetemplate_change", args=[template.pk])
    text = client.post(change, {"key": "test", "owner": "", "subject": "Test 2",
                                "body": "Test {firma}", "_save": "1"},
                       follow=True).content.decode()
    assert "Zapisano: szablon wiadomości „" in text and "zmieniony(-na)" not in text


def test_one_word_for_a_payment_reminder(client, admin_user):
    from django.utils import translation

    from symfonia_mail.models import ReminderRecord, ReminderRun

    with translation.override("pl"):
        names = [str(model._meta.verbose_name_plural) for model in (ReminderRun, ReminderRecord)]
    assert all("ponagle" in name for name in names), names
    client.force_login(admin_user)
    index = client.get(reverse("admin:index")).content.decode()
    assert "upomnie" not in index.lower()
