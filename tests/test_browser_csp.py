"""Every admin page of the app in Chromium under a strict Content-Security-Policy (issue 19).

Django 6.0's ContentSecurityPolicyMiddleware with ``default-src 'self'``: no inline
script or style, no foreign origin. Marked ``browser_csp``, not ``browser``, so that
the Django 6.0 and 6.1 sessions (which leave the ``browser`` tests to 5.2) run it.
"""

import datetime
from pathlib import Path

import django
import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from symfonia_mail.models import (
    MailLog,
    MessageTemplate,
    ReminderRecord,
    ReminderRun,
    UserMailConfig,
)

from . import test_browser
from .conftest import config_values
from .test_browser import CHROMIUM, PASSWORD, superuser, url

# The Chromium and live-server fixtures of tests/test_browser.py.
chromium, live = test_browser.chromium, test_browser.live

pytestmark = [
    pytest.mark.browser_csp,
    pytest.mark.skipif(django.VERSION < (6, 0),
                       reason="Django's ContentSecurityPolicyMiddleware is new in 6.0"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]

# Records what the page's own listener sees (the console only says it in prose).
LISTEN = """window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(
    `${e.violatedDirective} ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));"""
# CSP messages on the console of every page of the context (a popup's too), for problems().
CONSOLE_ERRORS = []


@pytest.fixture
def strict_csp(settings):
    from django.utils.csp import CSP

    settings.SECURE_CSP = {"default-src": [CSP.SELF]}
    return "default-src 'self'"


@pytest.fixture
def csp_page(chromium, live, transactional_db, strict_csp):
    """Return a logged-in page that records CSP violations, as events and on the console."""
    page_user = superuser("admin")
    context = chromium.new_context(locale="pl-PL", viewport={"width": 1366, "height": 768})
    context.add_init_script(LISTEN)
    page = context.new_page()
    page.set_default_timeout(15_000)
    CONSOLE_ERRORS.clear()
    context.on("console", lambda message: "Content Security Policy" in message.text
               and CONSOLE_ERRORS.append(message.text))
    page.goto(f"{live.url}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live.url}/admin/")
    page.user = page_user
    yield page
    context.close()


def visit(page, target):
    """Open *target*; return the violations and console errors it caused."""
    response = page.goto(target)
    assert response.ok, (target, response.status)
    assert response.headers["content-security-policy"] == "default-src 'self'", target
    page.wait_for_load_state("load")
    return problems(page, target)


def problems(page, where):
    page.wait_for_timeout(50)  # a violation event is queued after the element that caused it
    found = [f"{where}: {v}" for v in page.evaluate("window.__violations || []")]
    found += [f"{where}: console: {text}" for text in CONSOLE_ERRORS]
    CONSOLE_ERRORS.clear()
    return found


def test_every_admin_page_of_the_app_is_clean_under_a_strict_policy(
        csp_page, live, global_config, smtp_server):
    from sales.models import Contractor, Invoice

    page = csp_page
    admin = page.user
    clerk = User.objects.create_user("anna", "anna@firma.example", PASSWORD, is_staff=True)
    own = UserMailConfig(user=clerk, scope="individual", **config_values(
        smtp_server, sender_email="anna@firma.example"))
    own.save()
    oauth_user = User.objects.create_user("ola", "ola@firma.example", PASSWORD, is_staff=True)
    oauth = UserMailConfig.objects.create(
        user=oauth_user, scope="individual", auth_method="microsoft365", host="127.0.0.1",
        port=smtp_server.port, sender_email="ola@firma.example",
        oauth_tenant="firma.onmicrosoft.com", oauth_client_id="client-id")
    template = MessageTemplate.objects.create(
        key="invoice", subject="Faktura {numer}",
        body="<html><body><p style=\"color: red\">Faktura {numer}</p></body></html>")
    failed = MailLog.objects.create(status="failed", scope="global", transport="smtp",
                                    server="127.0.0.1:25", sender="biuro@firma.example",
                                    recipients="klient@example.com", subject="Faktura",
                                    sent_by=admin, error="421 Service not available")
    acme = Contractor.objects.create(name="ACME sp. z o.o.", emails="ksiegowosc@acme.example")
    today = timezone.localdate()
    Invoice.objects.create(contractor=acme, number="FV/1/2026", amount=100,
                           issue_date=today - datetime.timedelta(days=30),
                           due_date=today - datetime.timedelta(days=10))
    run = ReminderRun.objects.create(sent_by=admin, total=1)

    found = []
    for name, args in [
        ("globalmailconfig_changelist", []), ("usermailconfig_changelist", []),
        ("usermailconfig_add", []), ("usermailconfig_change", [own.pk]),
        ("usermailconfig_change", [oauth.pk]), ("messagetemplate_changelist", []),
        ("messagetemplate_add", []), ("messagetemplate_change", [template.pk]),
        ("maillog_changelist", []), ("maillog_change", [failed.pk]),
        ("reminderrun_changelist", []), ("reminderrun_change", [run.pk]),
    ]:
        found += visit(page, url(live, name, *args))

    # Test SMTP: the script's report on the page, then the plain form post's page.
    page.goto(url(live, "globalmailconfig_change", 1))
    page.click("button[name=_test_smtp]")
    page.wait_for_selector(".messagelist li.symfonia-test-report")
    found += problems(page, "Test SMTP (script)")
    page.fill("#id_password", "wrong-password")
    page.eval_on_selector("button[name=_test_smtp]", "b => b.form.requestSubmit(b)")
    page.wait_for_selector(".messagelist li.error")
    found += problems(page, "Test SMTP (form post)")

    # Add template: the kind's built-in text, fetched by the page's script.
    page.goto(url(live, "messagetemplate_add"))
    page.select_option("#id_key", "contract")
    page.wait_for_function("document.getElementById('id_subject').value.includes('{umowa}')")
    found += problems(page, "built-in text")

    # Preview: the page and the HTML part's frame, from the unsaved form.
    page.goto(url(live, "messagetemplate_change", template.pk))
    with page.expect_popup() as popup:
        page.click("button.symfonia-preview")
    preview = popup.value
    preview.wait_for_load_state("load")
    preview.frame_locator("#preview-html").locator("p").wait_for()
    found += problems(preview, "preview")
    colour = preview.frame_locator("#preview-html").locator("p").evaluate(
        "p => getComputedStyle(p).color")
    assert colour == "rgb(255, 0, 0)", colour  # the mail's own inline style applies
    font = preview.evaluate("getComputedStyle(document.body).fontFamily")
    assert "system-ui" in font, font  # the page's stylesheet applies
    preview.close()

    # Actions with a confirmation page: Test SMTP on a user row, resend, reminders.
    def run_action(changelist, name):
        page.goto(changelist)
        page.check("input[name=_selected_action]")
        page.select_option("select[name=action]", name)
        page.click("button[name=index]")
        page.wait_for_load_state("load")
        return problems(page, f"{changelist} {name}")

    found += run_action(url(live, "maillog_changelist"), "resend_messages")
    contractors = f"{live.url}/admin/sales/contractor/"
    found += run_action(contractors, "send_payment_reminders")
    found += run_action(contractors, "send_payment_reminders_force")
    page.wait_for_selector("#already-reminded")
    record = ReminderRecord.objects.get()
    found += visit(page, url(live, "reminderrecord_changelist"))
    found += visit(page, url(live, "reminderrecord_change", record.pk))
    UserMailConfig.objects.filter(pk=oauth.pk).delete()
    found += run_action(url(live, "usermailconfig_changelist"), "test_smtp")
    assert found == [], "\n".join(found)
