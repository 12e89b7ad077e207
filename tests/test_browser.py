"""The admin in a real browser: headless Debian Chromium driven by Playwright (issue 5).

Never ``playwright install``: nothing can be downloaded here; Playwright drives
/usr/bin/chromium. The live server listens on 127.0.0.1 only. Set
``SYMFONIA_SCREENSHOTS=docs/screenshots`` to refresh the screenshots of docs/.
"""

import datetime
import os
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from symfonia_mail.models import GlobalMailConfig, MailLog, MessageTemplate, UserMailConfig

from .conftest import config_values

# pytest-django's live server: loopback only (read when the fixture first starts).
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PASSWORD = "browser-login-pw"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread, and Django's ORM refuses
    # to run where a loop runs. Allowed for these tests only, not the whole session.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def live(live_server):
    assert live_server.url.startswith("http://127.0.0.1:")
    return live_server


@pytest.fixture
def page_for(chromium, live, transactional_db):
    """Return a function that opens a logged-in page for a user (Polish admin).

    Keyword arguments go to the browser context (e.g. ``ignore_https_errors``, or
    ``locale="en-US"`` and ``viewport`` instead of Polish at 1280x900).
    """
    contexts = []

    def open_page(user, *, timeout_ms=15_000, **context_options):
        context = chromium.new_context(**{"locale": "pl-PL",
                                          "viewport": {"width": 1280, "height": 900},
                                          **context_options})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(timeout_ms)
        page.goto(f"{live.url}/admin/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{live.url}/admin/")
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot(tmp_path):
    target = Path(os.environ.get("SYMFONIA_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)

    def take(page, name):
        path = target / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        return path

    return take


def superuser(name):
    return User.objects.create_superuser(name, f"{name}@firma.example", PASSWORD,
                                         first_name=name.title(), last_name="Kowalska")


def url(live, name, *args):
    from django.urls import reverse

    return live.url + reverse(f"admin:symfonia_mail_{name}", args=args)


def test_fill_global_configuration_and_test_smtp(page_for, live, smtp_server, screenshot):
    admin = superuser("admin")
    page = page_for(admin)
    page.goto(url(live, "globalmailconfig_changelist"))
    page.wait_for_url("**/globalmailconfig/1/change/")
    page.select_option("#id_transport", "smtp")
    page.fill("#id_host", smtp_server.host)
    page.select_option("#id_security", "ssl")
    assert page.input_value("#id_port") == "465"  # the script moves the usual port along
    page.select_option("#id_security", "starttls")
    page.fill("#id_port", str(smtp_server.port))
    page.fill("#id_timeout_ms", "5000")
    page.fill("#id_username", smtp_server.username)
    page.fill("#id_password", smtp_server.password)
    page.fill("#id_sender_email", "biuro@firma.example")
    page.fill("#id_sender_name", "Biuro Firma")
    page.fill("#id_cc", "kopia@firma.example")
    page.fill("#id_company_name", "Firma Testowa sp. z o.o.")
    # Delivery notifications: Never excludes the others, and the others exclude Never.
    page.check("input[name=dsn_notify][value=OnSuccess]")
    page.check("input[name=dsn_notify][value=Never]")
    assert not page.is_checked("input[name=dsn_notify][value=OnSuccess]")
    page.check("input[name=dsn_notify][value=OnFailure]")
    assert not page.is_checked("input[name=dsn_notify][value=Never]")
    page.check("input[name=dsn_notify][value=Delay]")

    # Test SMTP with the unsaved values: the report appears, nothing is saved.
    page.click("button[name=_test_smtp]")
    report = page.wait_for_selector(".messagelist li.success")
    text = report.inner_text()
    assert "biuro@firma.example" in text and "kopia@firma.example" in text
    assert "STARTTLS" in text and "NOTIFY=FAILURE,DELAY" in text
    assert not GlobalMailConfig.objects.filter(sender_email="biuro@firma.example").exists()
    assert len(smtp_server.messages) == 1
    assert page.input_value("#id_password") == smtp_server.password  # still typed in
    screenshot(page, "global-config-test-smtp")

    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist li.success")
    stored = GlobalMailConfig.objects.get()
    assert stored.password == smtp_server.password and stored.password_set_by == admin
    assert stored.dsn_notify == "OnFailure,Delay"
    assert smtp_server.password not in page.content()


def test_show_password_only_for_the_user_who_entered_it(page_for, live, global_config,
                                                        screenshot):
    entered_by = superuser("admin")
    other = superuser("szef")
    global_config.password_set_by = entered_by
    global_config.save()
    change = url(live, "globalmailconfig_change", 1)

    page = page_for(entered_by)
    page.goto(change)
    assert global_config.password not in page.content()
    show = page.locator(".field-password button.symfonia-show-secret")
    show.click()
    value = page.locator(".field-password code.symfonia-secret-value")
    value.wait_for(state="visible")
    assert value.inner_text() == global_config.password
    screenshot(page, "password-show")
    show.click()  # "Hide"
    value.wait_for(state="hidden")

    page = page_for(other)
    page.goto(change)
    assert page.locator("button.symfonia-show-secret").count() == 0
    assert "admin" in page.locator(".field-password").inner_text()  # who entered it
    status = page.evaluate("""async (target) => {
        const token = document.querySelector("input[name=csrfmiddlewaretoken]").value;
        const response = await fetch(target, {method: "POST", headers: {"X-CSRFToken": token}});
        return [response.status, await response.text()];
    }""", url(live, "globalmailconfig_show_secret", 1, "password"))
    assert status[0] == 403 and global_config.password not in status[1]
    assert global_config.password not in page.content()


def test_switch_a_user_to_global_and_back_with_reload(page_for, live, global_config,
                                                     make_smtp_server, screenshot):
    admin = superuser("admin")
    clerk = User.objects.create_user("anna", "anna@firma.example", PASSWORD,
                                     first_name="Anna", last_name="Nowak", is_staff=True)
    own_server = make_smtp_server(tls="starttls", users={"anna": "anna-pw-123"})
    row = UserMailConfig(user=clerk, scope="individual", **config_values(
        own_server, sender_email="anna@firma.example", sender_name="Anna Nowak"))
    row.password_set_by = clerk
    row.save()
    MessageTemplate.objects.create(key="invoice", subject="Faktura {numer} z dnia {z dnia}",
                                   body="Dzień dobry {kontrahent},\nw załączeniu faktura "
                                        "{numer}.\n\n{wysyłający}\n{firma}")
    MailLog.objects.create(status="sent", scope="global", transport="smtp",
                           server=f"127.0.0.1:{own_server.port}", sender="biuro@firma.example",
                           recipients="klient@example.com", subject="Faktura FV/12/2026",
                           sent_by=admin)
    page = page_for(admin)
    change = url(live, "usermailconfig_change", row.pk)
    page.goto(change)
    assert page.input_value("#id_sender_email") == "anna@firma.example"
    screenshot(page, "user-config-individual")

    # Choose the common scope and reload: the global values fill the form, read-only.
    page.select_option("#id_scope", "global")
    page.click("button[name=_reload_scope]")
    page.wait_for_selector(".messagelist li.info")
    assert page.input_value("#id_sender_email") == "biuro@firma.example"
    assert page.is_disabled("#id_host")
    assert UserMailConfig.objects.get().scope == "individual"  # not saved yet
    screenshot(page, "user-config-reload-global")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist li.success")
    stored = UserMailConfig.objects.get()
    assert stored.scope == "global"
    assert stored.sender_email == "anna@firma.example" and stored.password == "anna-pw-123"
    screenshot(page, "user-config-list")

    # Back: "only for this user" and Reload brings the stored individual values back.
    page.goto(change)
    assert page.input_value("#id_sender_email") == "biuro@firma.example"
    page.select_option("#id_scope", "individual")
    page.click("button[name=_reload_scope]")
    page.wait_for_selector(".messagelist li.info")
    assert "anna@firma.example" in page.locator(".messagelist").inner_text()
    assert page.input_value("#id_sender_email") == "anna@firma.example"
    assert page.input_value("#id_sender_name") == "Anna Nowak"
    assert not page.is_disabled("#id_host")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist li.success")
    stored = UserMailConfig.objects.get()
    assert stored.scope == "individual" and stored.password == "anna-pw-123"
    assert stored.password_set_by == clerk

    # The other main pages, for the administrator's guide (docs/admin-guide.md).
    page.goto(url(live, "messagetemplate_change", MessageTemplate.objects.get().pk))
    assert "{wystawiający}" in page.content()
    screenshot(page, "message-template")
    # Preview: the unsaved subject, filled with sample values, in a new tab.
    page.fill("#id_subject", "Nie zapisano {numer}")
    with page.expect_popup() as popup:
        page.click("button.symfonia-preview")
    preview = popup.value
    preview.wait_for_load_state()
    assert preview.inner_text("#preview-subject") == "Nie zapisano FV/12/2026"
    assert "ACME sp. z o.o." in preview.inner_text("#preview-text")
    assert MessageTemplate.objects.get().subject.startswith("Faktura")
    preview.close()
    page.goto(url(live, "maillog_changelist"))



# --- issue 12: the office administrator's first hour -----------------------------------------


def test_test_smtp_marks_the_fields_and_colours_a_failed_step(page_for, live, global_config,
                                                              screenshot):
    admin = superuser("admin")
    page = page_for(admin)
    page.goto(url(live, "globalmailconfig_change", 1))
    # (9) the global page has no scope, so no "Reload scope".
    assert page.locator("button[name=_reload_scope]").count() == 0
    # (1) the first experiment: another port, password not retyped, Test SMTP.
    page.fill("#id_port", str(global_config.port + 1))
    page.click("button[name=_test_smtp]")
    error = page.wait_for_selector(".field-password ul.errorlist li")
    assert "hasło" in error.inner_text().lower()
    assert "errors" in page.get_attribute(".form-row.field-password", "class")
    assert page.locator(".messagelist li.error").count() == 1
    screenshot(page, "test-smtp-field-error")
    # (2) a wrong password: the Login step is red, the steps before it are not.
    page.fill("#id_port", str(global_config.port))
    page.fill("#id_password", "wrong-password")
    page.click("button[name=_test_smtp]")
    failed = page.wait_for_selector(".messagelist li.symfonia-step-failed")
    assert "Logowanie" in failed.inner_text()
    assert page.locator(".field-password ul.errorlist").count() == 0  # errors cleared
    colours = page.evaluate("""() => [".symfonia-step-ok", ".symfonia-step-failed"].map(
        (s) => getComputedStyle(document.querySelector("li" + s)).backgroundColor)""")
    ok, red = (tuple(int(v) for v in c[c.index("(") + 1:-1].split(",")[:3]) for c in colours)
    assert red[0] > red[1] and red[0] > red[2], colours  # reddish
    assert ok != red
    images = page.evaluate("""() => [".symfonia-step-ok", ".symfonia-step-failed"].map(
        (s) => getComputedStyle(document.querySelector("li" + s)).backgroundImage)""")
    assert "icon-yes" in images[0] and "icon-no" in images[1], images
    screenshot(page, "test-smtp-failed-step")


def test_save_with_the_common_scope_changes_only_the_scope(page_for, live, global_config,
                                                           make_smtp_server):
    admin = superuser("admin")
    clerk = User.objects.create_user("anna", "anna@firma.example", PASSWORD, is_staff=True)
    server = make_smtp_server(tls="starttls", users={"anna": "anna-pw-123"})
    row = UserMailConfig(user=clerk, scope="individual", **config_values(
        server, sender_email="anna@firma.example", sender_name="Anna Nowak"))
    row.save()
    page = page_for(admin)
    page.goto(url(live, "usermailconfig_change", row.pk))
    page.fill("#id_sender_name", "Zmieniona nazwa")
    page.select_option("#id_scope", "global")
    page.click("input[name=_save]")
    warning = page.wait_for_selector(".messagelist li.warning")
    assert "Zapisano tylko zakres" in warning.inner_text()
    stored = UserMailConfig.objects.get()
    assert stored.scope == "global" and stored.sender_name == "Anna Nowak"


def test_template_form_and_preview_warn_about_macros_the_kind_cannot_fill(page_for, live,
                                                                          global_config,
                                                                          screenshot):
    admin = superuser("admin")
    page = page_for(admin)
    page.goto(url(live, "messagetemplate_add"))
    # (7) the key is a choice of the registered kinds, explained next to it.
    options = page.eval_on_selector_all("#id_key option", "els => els.map(e => e.value)")
    assert {"test", "invoice", "payment_reminder", "contract"} <= set(options)
    assert "{numery}" in page.inner_text(".field-key")
    page.select_option("#id_key", "payment_reminder")
    page.fill("#id_subject", "Przypomnienie {numery}")
    page.fill("#id_body", "Dzień dobry {kontrahent},\nzaległe dokumenty: {numery}.\n"
                          "Umowa {umowa} z dnia {z dnia}.\n\n{wysyłający}")
    with page.expect_popup() as popup:
        page.click("button.symfonia-preview")
    preview = popup.value
    preview.wait_for_load_state()
    warning = preview.inner_text(".warnings")
    assert "{umowa}" in warning and "{z dnia}" not in warning.split(":")[0]
    assert "Umowa {umowa}" in preview.inner_text("#preview-text")  # visible, not a sample
    screenshot(preview, "template-preview-macro-warning")
    preview.close()
    page.click("input[name=_save]")
    saved = page.wait_for_selector(".messagelist li.warning")
    assert "{umowa}" in saved.inner_text()
    screenshot(page, "template-macro-warning")


def test_send_again_today_asks_first_and_then_forces(page_for, live, global_config, smtp_server,
                                                     screenshot):
    from sales.models import Contractor, Invoice

    from symfonia_mail.models import ReminderRecord

    admin = superuser("admin")
    acme = Contractor.objects.create(name="ACME sp. z o.o.", emails="ksiegowosc@acme.example")
    today = timezone.localdate()
    Invoice.objects.create(contractor=acme, number="FV/1/2026", amount=100,
                           issue_date=today - datetime.timedelta(days=30),
                           due_date=today - datetime.timedelta(days=10))
    page = page_for(admin)
    changelist = f"{live.url}/admin/sales/contractor/"

    def run_action(name):
        page.goto(changelist)
        page.check("input[name=_selected_action]")
        page.select_option("select[name=action]", name)
        page.click("button[name=index]")

    run_action("send_payment_reminders")
    page.wait_for_selector(".messagelist li.success")
    run_action("send_payment_reminders")
    assert "wymuszenia" in page.wait_for_selector(".messagelist li.warning").inner_text()
    run_action("send_payment_reminders_force")
    listed = page.wait_for_selector("#already-reminded")
    assert "ACME sp. z o.o." in listed.inner_text() and "admin" in listed.inner_text()
    assert len(smtp_server.messages) == 1  # asking sent nothing
    screenshot(page, "force-reminders-confirmation")
    page.click("input[type=submit]")
    page.wait_for_selector(".messagelist li.success")
    assert len(smtp_server.messages) == 2
    assert ReminderRecord.objects.filter(status="sent").count() == 2


def test_mail_log_fits_1400_pixels_and_reads_as_text(chromium, live, transactional_db,
                                                     screenshot):
    admin = superuser("admin")
    long_subject = ("Przypomnienie o zaległej płatności: FV/10/2026, FV/11/2026 – Firma Demo "
                    "sp. z o.o.")
    for number in range(6):
        MailLog.objects.create(
            status="failed" if number % 2 else "sent", scope="global", transport="smtp",
            server="smtp.serwer-pocztowy-firmy.example:587", sender="biuro@firma.example",
            recipients="ksiegowosc@kontrahent-o-dlugiej-nazwie.example, kopia@firma.example",
            subject=long_subject, sent_by=admin, kind="test" if number == 5 else "message",
            error="SMTPRecipientsRefused: {'odrzucony@kontrahent.example': (550, b'5.1.1 "
                  "<odrzucony@kontrahent.example>: Recipient address rejected: User unknown')}"
            if number % 2 else "")
    context = chromium.new_context(locale="pl-PL", viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live.url}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.goto(url(live, "maillog_changelist"))
        sizes = page.evaluate("""() => {
            const table = document.querySelector('#result_list');
            const server = document.querySelector('#result_list td.field-server_display');
            const subject = document.querySelector('#result_list td.field-subject_short');
            const box = document.querySelector('#changelist-form .results');
            return {table: table.getBoundingClientRect().right,
                    box: box.getBoundingClientRect().right,
                    serverScroll: server.scrollWidth, serverClient: server.clientWidth,
                    subject: subject.getBoundingClientRect().width};
        }""")
        screenshot(page, "mail-log")
        assert sizes["table"] <= sizes["box"] + 1, sizes  # no horizontal scrolling
        assert sizes["serverScroll"] <= sizes["serverClient"], sizes  # the server is not cut
        assert sizes["subject"] >= 200, sizes  # the subject is not squeezed
        text = page.inner_text("#result_list")
        assert "odrzucony@kontrahent.example: 550 5.1.1" in text
        assert "b'" not in text and "SMTPRecipientsRefused" not in text
        screenshot(page, "mail-log")
    finally:
        context.close()
