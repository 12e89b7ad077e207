"""Test SMTP with OAuth2: the token step before the SMTP steps (issue 11)."""

import pytest
from django.utils import translation

from symfonia_mail.config import resolver
from symfonia_mail.diagnostics import smtp_test as diagnostics
from symfonia_mail.models import GlobalMailConfig

from .conftest import oauth_config_values

pytestmark = pytest.mark.django_db


def oauth_config(server, endpoint, method="microsoft365", **overrides):
    return resolver.from_model(GlobalMailConfig(
        **oauth_config_values(server, endpoint, method, **overrides)))


def test_token_step_comes_first_and_login_uses_xoauth2(xoauth2_server, token_endpoint):
    config = oauth_config(xoauth2_server, token_endpoint)
    report = diagnostics.run_smtp_test(config, language="en")
    assert report.ok, report.summary()
    names = [step.name for step in report.steps]
    assert names[:5] == ["token", "connect", "ehlo", "starttls", "login"]
    token, login = report.steps[0], report.steps[4]
    assert "access token acquired" in token.reply
    assert "client credentials" in token.detail and token_endpoint.url in token.detail
    assert login.detail == f"XOAUTH2, {token_endpoint.mailbox}"
    assert len(xoauth2_server.messages) == 1
    text = report.summary()
    assert token_endpoint.client_secret not in text
    for _mailbox, access_token, _ok in xoauth2_server.handler.logins:
        assert access_token not in text
    again = diagnostics.run_smtp_test(config, language="en")
    assert "reused" in again.steps[0].reply
    assert len(token_endpoint.grants()) == 1


def test_refreshed_with_a_connected_account(xoauth2_server, token_endpoint):
    token_endpoint.rotate = False
    refresh = token_endpoint.issue_refresh_token(provider="google")
    config = oauth_config(xoauth2_server, token_endpoint, "google", oauth_refresh_token=refresh)
    report = diagnostics.run_smtp_test(config, language="en")
    assert report.ok, report.summary()
    assert "access token refreshed" in report.steps[0].reply
    assert report.steps[0].detail.startswith("Google, connected account")


@pytest.mark.parametrize(("setup", "code", "shown"), [
    (lambda e: setattr(e, "secret_expired", True), "oauth_secret_expired", "AADSTS7000222"),
    (lambda e: setattr(e, "consent_granted", False), "oauth_consent_required", "AADSTS65001"),
    (lambda e: setattr(e, "tenant", "inny.onmicrosoft.com"), "oauth_tenant_not_found",
     "AADSTS90002"),
])
def test_token_failure_is_named_with_the_error_code_and_a_hint(
        xoauth2_server, token_endpoint, setup, code, shown):
    config = oauth_config(xoauth2_server, token_endpoint)
    setup(token_endpoint)
    report = diagnostics.run_smtp_test(config, language="en")
    assert not report.ok
    assert [step.name for step in report.steps] == ["token"]  # no SMTP step after it
    assert report.code == code and shown in report.steps[0].reply
    with translation.override("en"):
        assert str(report.hint) in report.summary()
    assert xoauth2_server.handler.logins == []


def test_polish_hint_for_consent(xoauth2_server, token_endpoint):
    config = oauth_config(xoauth2_server, token_endpoint)
    token_endpoint.consent_granted = False
    report = diagnostics.run_smtp_test(config, language="pl")
    assert "zgody administratora" in report.summary()


def test_mailbox_refusing_the_token_is_explained(xoauth2_server, token_endpoint):
    # A connected account's token opens only that account's mailbox.
    refresh = token_endpoint.issue_refresh_token("biuro@firma.example")
    config = oauth_config(xoauth2_server, token_endpoint, username="inna@firma.example",
                          oauth_refresh_token=refresh)
    report = diagnostics.run_smtp_test(config, language="en")
    assert [s.name for s in report.steps][-1] == "login"
    assert report.code == "oauth_login_refused"
    assert "Authenticated SMTP" in report.summary()


def test_basic_auth_refusal_points_to_the_oauth_option(make_smtp_server):
    server = make_smtp_server(users={"biuro@firma.example": "right"}, auth_failure=(
        "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."))
    config = resolver.from_model(GlobalMailConfig(
        transport="smtp", host=server.host, port=server.port, security="starttls",
        timeout_ms=5000, username="biuro@firma.example", password="wrong",
        sender_email="biuro@firma.example"))
    report = diagnostics.run_smtp_test(config, language="en")
    assert report.code == "app_password_required_microsoft"
    assert "Microsoft 365 (OAuth2)" in report.summary()
