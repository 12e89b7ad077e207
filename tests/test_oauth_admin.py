"""OAuth2 in the admin (test client): Connect with PKCE and a session-bound state, the
callback, Disconnect, write-only client secret, broken connection shown (issue 11).

The provider's consent page is the loopback TokenEndpoint's /authorize, which answers
at once with the redirect back (as after the user's consent); the test follows it with
requests, like the browser would.
"""

import os
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import User
from django.urls import reverse

from symfonia_mail.models import GlobalMailConfig, UserMailConfig

from .conftest import oauth_config_values
from .test_admin import GLOBAL_URL, form_data, make_staff

pytestmark = pytest.mark.django_db

CONNECT_URL = reverse("admin:symfonia_mail_globalmailconfig_oauth_connect", args=[1])
DISCONNECT_URL = reverse("admin:symfonia_mail_globalmailconfig_oauth_disconnect", args=[1])
CALLBACK_URL = reverse("admin:symfonia_mail_oauth_callback")


@pytest.fixture
def admin_user(db):
    return make_staff("admin", superuser=True)


def stored_global(server, endpoint, method="microsoft365", **overrides):
    config = GlobalMailConfig(pk=1, **oauth_config_values(server, endpoint, method, **overrides))
    config.full_clean()
    config.save()
    return config


def consent(location):
    """Open the provider's sign-in page; return the callback path and query it redirects to."""
    answer = requests.get(location, allow_redirects=False, timeout=10,
                          verify=os.environ["SSL_CERT_FILE"])
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    return back.path, parse_qs(back.query)


def test_change_form_offers_connect_and_shows_the_redirect_uri(client, admin_user,
                                                               xoauth2_server, token_endpoint):
    stored_global(xoauth2_server, token_endpoint)
    client.force_login(admin_user)
    page = client.get(GLOBAL_URL).content.decode()
    assert "Połącz konto Microsoft" in page and "Połącz konto Google" in page
    assert f"http://testserver{CALLBACK_URL}" in page
    assert token_endpoint.client_secret not in page
    assert 'name="oauth_client_secret"' in page and 'id="id_auth_method"' in page


def test_connect_microsoft_up_to_the_stored_refresh_token(client, admin_user, xoauth2_server,
                                                          token_endpoint):
    stored_global(xoauth2_server, token_endpoint)
    client.force_login(admin_user)
    assert client.get(CONNECT_URL).status_code == 405  # no side effect on GET
    response = client.post(CONNECT_URL)
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    query = parse_qs(location.query)
    assert location.path == f"/{token_endpoint.tenant}/oauth2/v2.0/authorize"
    assert set(query["scope"][0].split()) >= {"https://outlook.office.com/SMTP.Send",
                                              "offline_access"}
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["redirect_uri"] == [f"http://testserver{CALLBACK_URL}"]
    assert query["login_hint"] == [token_endpoint.mailbox]
    path, back = consent(response["Location"])
    assert path == CALLBACK_URL and back["state"] == query["state"]
    done = client.get(path, {k: v[0] for k, v in back.items()})
    assert done.status_code == 302 and done["Location"] == GLOBAL_URL
    stored = GlobalMailConfig.objects.get()
    assert stored.oauth_refresh_token.startswith("rt-microsoft-")
    assert stored.oauth_account == token_endpoint.mailbox
    page = client.get(GLOBAL_URL).content.decode()
    assert f"Połączono jako {token_endpoint.mailbox}" in page
    assert stored.oauth_refresh_token not in page
    # The code was exchanged with the PKCE verifier, and the state works only once.
    assert token_endpoint.grants("authorization_code")
    again = client.get(path, {k: v[0] for k, v in back.items()})
    assert again.status_code == 302
    assert GlobalMailConfig.objects.get().oauth_refresh_token == stored.oauth_refresh_token


def test_connect_google(client, admin_user, xoauth2_server, token_endpoint):
    stored_global(xoauth2_server, token_endpoint, "google")
    client.force_login(admin_user)
    response = client.post(CONNECT_URL)
    query = parse_qs(urlsplit(response["Location"]).query)
    assert response["Location"].startswith(f"{token_endpoint.url}/google/auth?")
    assert query["scope"] == ["https://mail.google.com/"]
    assert query["access_type"] == ["offline"] and query["code_challenge_method"] == ["S256"]
    path, back = consent(response["Location"])
    client.get(path, {k: v[0] for k, v in back.items()})
    stored = GlobalMailConfig.objects.get()
    assert stored.oauth_refresh_token.startswith("rt-google-")
    # The connected account sends.
    from django.core import mail

    assert mail.send_mail("s", "b", None, ["k@example.com"]) == 1
    assert xoauth2_server.messages[0].login == token_endpoint.mailbox


def test_callback_state_is_bound_to_the_session(client, admin_user, xoauth2_server,
                                                token_endpoint):
    stored_global(xoauth2_server, token_endpoint)
    client.force_login(admin_user)
    path, back = consent(client.post(CONNECT_URL)["Location"])
    # Another administrator's browser gets the same callback URL: refused.
    other = make_staff("other", superuser=True)
    client.force_login(other)
    client.get(path, {k: v[0] for k, v in back.items()})
    assert GlobalMailConfig.objects.get().oauth_refresh_token == ""
    # A forged state in the right session: refused too.
    client.force_login(admin_user)
    client.get(path, {"code": back["code"][0], "state": "forged"})
    assert GlobalMailConfig.objects.get().oauth_refresh_token == ""


def test_callback_error_from_the_provider_is_shown(client, admin_user, xoauth2_server,
                                                   token_endpoint):
    stored_global(xoauth2_server, token_endpoint)
    client.force_login(admin_user)
    state = parse_qs(urlsplit(client.post(CONNECT_URL)["Location"]).query)["state"][0]
    response = client.get(CALLBACK_URL, {"state": state, "error": "access_denied",
                                         "error_description": "AADSTS65004: User declined."},
                          follow=True)
    assert "access_denied" in response.content.decode()
    assert GlobalMailConfig.objects.get().oauth_refresh_token == ""


def test_disconnect_is_post_only(client, admin_user, xoauth2_server, token_endpoint):
    stored_global(xoauth2_server, token_endpoint, oauth_refresh_token="rt-stored",
                  oauth_account="biuro@firma.example")
    client.force_login(admin_user)
    assert client.get(DISCONNECT_URL).status_code == 405
    assert GlobalMailConfig.objects.get().oauth_refresh_token == "rt-stored"
    client.post(DISCONNECT_URL)
    assert GlobalMailConfig.objects.get().oauth_refresh_token == ""


def test_broken_connection_is_shown_with_what_to_do(client, admin_user, xoauth2_server,
                                                    token_endpoint):
    token = token_endpoint.issue_refresh_token()
    stored_global(xoauth2_server, token_endpoint, oauth_refresh_token=token)
    token_endpoint.revoke_all()
    from django.core import mail

    assert mail.send_mail("s", "b", None, ["k@example.com"], fail_silently=True) == 0
    client.force_login(admin_user)
    page = client.get(GLOBAL_URL).content.decode()
    assert "Zepsute" in page and "invalid_grant" in page and "Połącz" in page


def test_client_secret_is_write_only_with_show_for_its_enterer(client, admin_user,
                                                                xoauth2_server, token_endpoint):
    config = stored_global(xoauth2_server, token_endpoint)
    client.force_login(admin_user)
    data = form_data(config, auth_method="microsoft365", oauth_tenant=config.oauth_tenant,
                     oauth_client_id=config.oauth_client_id, oauth_client_secret="nowy-sekret",
                     _save="1")
    response = client.post(GLOBAL_URL, data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    stored = GlobalMailConfig.objects.get()
    assert stored.oauth_client_secret == "nowy-sekret"
    assert stored.oauth_client_secret_set_by == admin_user
    show = reverse("admin:symfonia_mail_globalmailconfig_show_secret",
                   args=[1, "oauth_client_secret"])
    assert client.post(show).json() == {"value": "nowy-sekret"}
    assert "nowy-sekret" not in client.get(GLOBAL_URL).content.decode()
    client.force_login(make_staff("boss", superuser=True))
    assert client.post(show).status_code == 403


def test_moving_the_server_needs_the_secret_again_and_drops_a_connection(
        client, admin_user, xoauth2_server, token_endpoint):
    config = stored_global(xoauth2_server, token_endpoint, oauth_refresh_token="rt-stored")
    client.force_login(admin_user)
    base = {"auth_method": "microsoft365", "oauth_tenant": config.oauth_tenant,
            "oauth_client_id": config.oauth_client_id, "_save": "1"}
    refused = client.post(GLOBAL_URL, form_data(config, host="evil.example", **base))
    assert refused.status_code == 200
    assert "klucz tajny" in refused.content.decode()
    assert GlobalMailConfig.objects.get().host == xoauth2_server.host
    client.post(GLOBAL_URL, form_data(config, host="evil.example",
                                      oauth_client_secret=token_endpoint.client_secret, **base))
    stored = GlobalMailConfig.objects.get()
    assert stored.host == "evil.example" and stored.oauth_refresh_token == ""


def test_view_only_user_sees_states_not_buttons(client, xoauth2_server, token_endpoint):
    stored_global(xoauth2_server, token_endpoint, oauth_refresh_token="rt-stored")
    viewer = make_staff("viewer", "view_globalmailconfig")
    client.force_login(viewer)
    page = client.get(GLOBAL_URL).content.decode()
    assert "symfonia-oauth-button" not in page
    assert token_endpoint.client_secret not in page and "rt-stored" not in page
    assert client.post(CONNECT_URL).status_code == 403


def test_user_configuration_connects_through_the_same_callback(client, xoauth2_server,
                                                               token_endpoint):
    clerk = make_staff("clerk", "change_usermailconfig", "view_usermailconfig")
    row = UserMailConfig(user=clerk, **oauth_config_values(xoauth2_server, token_endpoint,
                                                           "google"))
    row.save()
    client.force_login(clerk)
    url = reverse("admin:symfonia_mail_usermailconfig_oauth_connect", args=[row.pk])
    path, back = consent(client.post(url)["Location"])
    assert path == CALLBACK_URL
    client.get(path, {k: v[0] for k, v in back.items()})
    assert UserMailConfig.objects.get().oauth_refresh_token.startswith("rt-google-")
    assert User.objects.count() == 1


def test_a_connection_error_is_in_the_language_of_the_page(client, admin_user, xoauth2_server,
                                                         token_endpoint):
    """Issue 19 item 12: no English sentence on a Polish page (the log stays English)."""
    stored_global(xoauth2_server, token_endpoint, oauth_tenant="nieznany.onmicrosoft.com")
    client.force_login(admin_user)
    response = client.post(CONNECT_URL, follow=True, headers={"Accept-Language": "pl"})
    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith("Microsoft nie zna katalogu 'nieznany.onmicrosoft.com'.")
    assert "AADSTS90002" in message  # the provider's code, as it answered
    assert "does not know" not in message
    response = client.post(CONNECT_URL, follow=True, headers={"Accept-Language": "en"})
    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith("Microsoft does not know the directory")
