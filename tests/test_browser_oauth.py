"""OAuth2 in a real browser (issue 11): fields per sign-in method, "Connect Microsoft
account" through the loopback identity platform and back to the callback, then Test SMTP.

Chromium does not know the test CA, so this context ignores HTTPS errors for the
loopback token endpoint's certificate; the server side (MSAL) verifies it.
Set ``SYMFONIA_SCREENSHOTS=docs/screenshots`` to refresh the screenshots of docs/.
"""

import functools

import pytest

from symfonia_mail.models import GlobalMailConfig

from .conftest import oauth_config_values
from .test_browser import (  # noqa: F401 - fixtures
    chromium,
    live,
    page_for,
    screenshot,
    superuser,
    url,
)
from .test_browser import pytestmark as browser_marks

pytestmark = browser_marks


@pytest.fixture
def page_of(page_for):  # noqa: F811
    """page_for in a context that accepts the loopback token endpoint's certificate."""
    return functools.partial(page_for, timeout_ms=20_000, ignore_https_errors=True)


def row_visible(page, name):
    return page.locator(f".form-row.field-{name}").first.is_visible()


def test_connect_microsoft_account_up_to_the_callback(page_of, live, xoauth2_server,  # noqa: F811
                                                      token_endpoint, screenshot):  # noqa: F811
    admin = superuser("admin")
    values = oauth_config_values(xoauth2_server, token_endpoint, oauth_client_secret="")
    config = GlobalMailConfig(pk=1, company_name="Firma Testowa sp. z o.o.", **values)
    config.save()
    page = page_of(admin)
    page.goto(url(live, "globalmailconfig_change", 1))

    # The fields of the chosen method only.
    assert row_visible(page, "oauth_tenant") and not row_visible(page, "password")
    page.select_option("#id_auth_method", "password")
    assert row_visible(page, "password") and not row_visible(page, "oauth_client_id")
    page.select_option("#id_auth_method", "google")
    assert not row_visible(page, "oauth_tenant") and row_visible(page, "oauth_client_secret")
    assert page.locator("button[data-auth-method=google]").is_visible()
    assert not page.locator("button[data-auth-method=microsoft365]").is_visible()
    page.select_option("#id_auth_method", "microsoft365")
    redirect_uri = page.locator("code.symfonia-redirect-uri").inner_text()
    assert redirect_uri == f"{live.url}/admin/symfonia_mail/globalmailconfig/oauth/callback/"
    page.locator(".field-oauth_connection").first.scroll_into_view_if_needed()
    screenshot(page, "oauth-microsoft365")

    # Connect: the provider's page (loopback) grants at once and sends the browser back.
    page.click("button[data-auth-method=microsoft365]")
    page.wait_for_url(f"{live.url}/admin/symfonia_mail/globalmailconfig/1/change/")
    message = page.wait_for_selector(".messagelist li.success")
    assert f"Połączono jako {token_endpoint.mailbox}" in message.inner_text()
    stored = GlobalMailConfig.objects.get()
    assert stored.oauth_refresh_token.startswith("rt-microsoft-")
    assert stored.oauth_refresh_token not in page.content()
    assert [r[1] for r in token_endpoint.grants()] == ["authorization_code"]
    screenshot(page, "oauth-connected")

    # Test SMTP: the token step, then XOAUTH2 at the SMTP server.
    page.click("button[name=_test_smtp]")
    page.wait_for_selector(".symfonia-step")
    text = page.locator(".messagelist").inner_text()
    assert "Token dostępu (OAuth2)" in text and "XOAUTH2" in text
    assert len(xoauth2_server.messages) == 1
    screenshot(page, "oauth-test-smtp")
