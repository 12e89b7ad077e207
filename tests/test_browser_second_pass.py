"""Issue 19 in Chromium: the administrator's first hour, second pass.

At 1366x768 (an office laptop) and 1920x1080, in Polish and English. Set
``SYMFONIA_SCREENSHOTS=docs/screenshots`` to refresh the screenshots.
"""

from datetime import datetime, time

import pytest
from django.utils import timezone

from symfonia_mail.config.resolver import from_model
from symfonia_mail.diagnostics.smtp_test import run_smtp_test
from symfonia_mail.models import GlobalMailConfig, MailLog, MessageTemplate

from . import test_browser
from .conftest import config_values
from .test_browser import superuser, url

# The Chromium, live-server, logged-in page and screenshot fixtures of tests/test_browser.py.
chromium, live, page_for = test_browser.chromium, test_browser.live, test_browser.page_for
screenshot = test_browser.screenshot

pytestmark = test_browser.pytestmark

SIZES = {"1366": {"width": 1366, "height": 768}, "1920": {"width": 1920, "height": 1080}}
LOCALES = {"pl": "pl-PL", "en": "en-US"}

# Words of the status cells that the browser broke although they fit on a line
# (a line may end after a hyphen: "self-" / "signed" is two words here).
BROKEN_WORDS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll("#result_list td.field-status_display")) {
    const width = cell.clientWidth;
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/[^\\s-]+/g)) {  // a hyphen may end a line
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0);
        const total = rects.reduce((sum, r) => sum + r.width, 0);
        if (rects.length > 1 && total < width) broken.push(match[0]);
      }
    }
  }
  return broken;
}"""


@pytest.fixture
def untrusted_cert():
    import trustme

    return trustme.CA().issue_cert("127.0.0.1", "localhost")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", LOCALES)
def test_mail_log_status_keeps_words_whole_and_says_why(page_for, live, make_smtp_server,
                                                        untrusted_cert, screenshot, language,
                                                        size):
    admin = superuser("admin")
    # A real Test SMTP failure (untrusted certificate after STARTTLS), run in Polish.
    server = make_smtp_server(tls="starttls", certificate=untrusted_cert,
                              users={"mailer": "pw-123456"})
    run_smtp_test(from_model(GlobalMailConfig(**config_values(server))), user=admin,
                  language="pl")
    refused = ("SMTPRecipientsRefused: {'odrzucony@kontrahent.example': (550, b'5.1.1 "
               "<odrzucony@kontrahent.example>: Recipient address rejected: User unknown')}")
    # The widest times of day ("10:58 a.m."): the list fits at any hour.
    wide = timezone.make_aware(datetime.combine(timezone.localdate(), time(10, 58)))
    for status, sent_by in (("partial", admin), ("failed", None), ("sent", None),
                            ("retry", admin), ("unknown", admin)):
        MailLog.objects.create(
            created_at=wide, status=status, scope="global", transport="smtp", sent_by=sent_by,
            server="smtp.serwer-pocztowy-firmy.example:587", sender="biuro@firma.example",
            recipients="ksiegowosc@kontrahent-o-dlugiej-nazwie.example, kopia@firma.example",
            subject="Przypomnienie o zaległej płatności: FV/10/2026, FV/11/2026 – Firma Demo "
                    "sp. z o.o.", error="" if status == "sent" else refused)
    page = page_for(admin, locale=LOCALES[language], viewport=SIZES[size])
    page.goto(url(live, "maillog_changelist"))

    assert page.evaluate(BROKEN_WORDS) == []
    widths = page.eval_on_selector_all("#result_list td.field-status_display",
                                       "cells => cells.map((c) => c.clientWidth)")
    assert min(widths) >= 120, widths
    table = page.evaluate("""() => [document.querySelector('#result_list')
        .getBoundingClientRect().right, document.querySelector('#changelist-form .results')
        .getBoundingClientRect().right]""")
    # The widths of the columns, should it fail.
    columns = page.eval_on_selector_all(
        "#result_list thead th", "cells => cells.map((c) => [c.className, c.offsetWidth])")
    assert table[0] <= table[1] + 1, (table, columns)  # still no horizontal scrolling
    # The Test SMTP row's excerpt names the step and the cause, not only "[BŁĄD] STARTTLS".
    test_row = page.locator("#result_list tr", has=page.locator(".symfonia-kind"))
    excerpt = test_row.locator(".symfonia-problem").inner_text()
    assert excerpt.startswith("STARTTLS: ") and "[" not in excerpt and " ms)" not in excerpt
    assert len(excerpt) > len("STARTTLS: ") + 10, excerpt
    # "Sent by": the rows nobody sent are named.
    nobody = {"pl": "nikt (skrypt lub zadanie z harmonogramu)",
              "en": "nobody (a script or scheduled task)"}[language]
    choices = page.eval_on_selector_all(
        "#changelist-filter a, #changelist-filter option",
        "items => items.map((e) => e.textContent.trim())")
    assert nobody in choices and "-" not in choices, choices
    if size == "1366":
        screenshot(page, f"mail-log-{language}")


@pytest.mark.parametrize("language", LOCALES)
def test_oauth_state_follows_the_method_and_connect_keeps_the_typed_values(
        page_for, live, smtp_server, xoauth2_server, token_endpoint, screenshot, language):
    from .conftest import save_global

    admin = superuser("admin")
    save_global(smtp_server, company_name="Firma Testowa sp. z o.o.")  # password sign-in
    page = page_for(admin, locale=LOCALES[language], viewport=SIZES["1366"],
                    ignore_https_errors=True, timeout_ms=20_000)
    page.goto(url(live, "globalmailconfig_change", 1))
    page.select_option("#id_auth_method", "microsoft365")
    state = page.locator(".symfonia-oauth-state:visible")
    assert state.count() == 1
    text = state.inner_text()
    assert "Nieużywane" not in text and "Not used" not in text, text
    assert {"pl": "Jeszcze nie połączono", "en": "Not connected yet"}[language] in text
    page.fill("#id_host", xoauth2_server.host)
    page.fill("#id_port", str(xoauth2_server.port))
    page.fill("#id_username", token_endpoint.mailbox)
    page.fill("#id_sender_email", token_endpoint.mailbox)
    # The stored password (hidden now) is not asked for again: it is forgotten.
    page.fill("#id_oauth_tenant", token_endpoint.tenant)
    page.fill("#id_oauth_client_id", token_endpoint.client_id)
    page.locator(".field-oauth_connection").first.scroll_into_view_if_needed()
    screenshot(page, f"oauth-before-connect-{language}")
    page.click("button[data-auth-method=microsoft365]")
    page.wait_for_url(f"{live.url}/admin/symfonia_mail/globalmailconfig/1/change/")
    page.wait_for_selector(".messagelist li.success")
    stored = GlobalMailConfig.objects.get()
    assert stored.oauth_refresh_token.startswith("rt-microsoft-")
    assert (stored.host, stored.oauth_client_id, stored.sender_email) == (
        xoauth2_server.host, token_endpoint.client_id, token_endpoint.mailbox)
    assert stored.password == ""
    assert page.input_value("#id_oauth_client_id") == token_endpoint.client_id
    assert token_endpoint.mailbox in page.locator(".symfonia-oauth-state:visible").inner_text()


@pytest.mark.parametrize("language", LOCALES)
def test_add_template_fills_the_built_in_text_of_the_chosen_kind(page_for, live, screenshot,
                                                                  language):
    admin = superuser("admin")
    page = page_for(admin, locale=LOCALES[language], viewport=SIZES["1366"])
    page.goto(url(live, "messagetemplate_add"))
    assert page.input_value("#id_subject") == "" and page.input_value("#id_body") == ""
    page.select_option("#id_key", "invoice")
    page.wait_for_function("document.getElementById('id_subject').value !== ''")
    subject = page.input_value("#id_subject")
    assert "{numer}" in subject and "{%" not in page.input_value("#id_body")
    assert {"pl": "Faktura", "en": "Invoice"}[language] in subject
    screenshot(page, f"template-add-built-in-{language}")
    # Another kind while the text is untouched: its text replaces the first.
    page.select_option("#id_key", "contract")
    page.wait_for_function("document.getElementById('id_subject').value.includes('{umowa}')")
    # Typed text is never replaced without asking; the button asks first.
    page.fill("#id_subject", "Mój temat {umowa}")
    page.select_option("#id_key", "invoice")
    page.wait_for_timeout(300)
    assert page.input_value("#id_subject") == "Mój temat {umowa}"
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("button.symfonia-built-in-text")
    page.wait_for_timeout(300)
    assert page.input_value("#id_subject") == "Mój temat {umowa}"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button.symfonia-built-in-text")
    page.wait_for_function("document.getElementById('id_subject').value.includes('{numer}')")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist li.success")
    assert "{numer}" in MessageTemplate.objects.get(key="invoice").subject


@pytest.mark.parametrize("language", LOCALES)
def test_changed_pages_in_both_languages(page_for, live, global_config, screenshot, language):
    from sales.models import Contractor

    admin = superuser("admin")
    Contractor.objects.create(name="ACME sp. z o.o.", emails="ksiegowosc@acme.example")
    MessageTemplate.objects.create(key="invoice", subject="Faktura {numer}",
                                   body="<html><body><p>Faktura {numer}</p></body></html>")
    en = language == "en"
    page = page_for(admin, locale=LOCALES[language], viewport=SIZES["1366"])

    # The configuration page: the rate limit's section; Test SMTP's failed login, one row.
    page.goto(url(live, "globalmailconfig_change", 1))
    page.fill("#id_rate_limit_per_minute", "30")
    page.fill("#id_password", "wrong-password")
    page.click("button[name=_test_smtp]")
    page.wait_for_selector(".messagelist li.symfonia-step-failed")
    login = "Login" if en else "Logowanie"
    steps = page.locator(".messagelist li.symfonia-step").all_inner_texts()
    # The reply on a line of its own: "535" may also be part of the server's port number.
    refused = [s for s in steps if "\n535 " in s]
    assert [s for s in steps if f"] {login}" in s] == refused, steps
    assert len([s for s in steps if f"] {login}" in s]) == 1, steps
    page.locator(".messagelist").scroll_into_view_if_needed()
    screenshot(page, f"test-smtp-failed-login-{language}")
    assert page.locator("fieldset h2", has_text="Sending limit" if en else "Limit wysyłki"
                        ).count() == 1

    # The preview: its stylesheet applies (a static file now).
    page.goto(url(live, "messagetemplate_change", MessageTemplate.objects.get().pk))
    with page.expect_popup() as popup:
        page.click("button.symfonia-preview")
    preview = popup.value
    preview.wait_for_load_state()
    assert "system-ui" in preview.evaluate("getComputedStyle(document.body).fontFamily")
    preview.frame_locator("#preview-html").locator("p").wait_for()
    screenshot(preview, f"template-preview-{language}")
    preview.close()

    # The sales app: the model's name alone, our empty choice.
    page.goto(f"{live.url}/admin/sales/contractor/")
    assert page.inner_text("#content h1") == ("Contractors" if en else "Kontrahenci")
    options = page.eval_on_selector_all("select[name=action] option",
                                        "options => options.map((o) => o.textContent)")
    assert options[0] == ("— choose —" if en else "— wybierz —"), options
    assert ("Delete selected: contractors" if en else "Usuń zaznaczone: kontrahenci") in options
    assert page.inner_text(".object-tools .addlink").strip().lower() == (
        "new contractor" if en else "nowy kontrahent")
    screenshot(page, f"sales-contractors-{language}")
