"""The mail log with delivery states in a real browser: it fits 1400 px and says it in words."""

import pytest

from symfonia_mail.models import MailLog
from symfonia_mail.reports import apply_report

from .reports_samples import dsn

# The browser fixtures, and the marker that skips these tests without chromium.
from .test_browser import (  # noqa: F401
    PASSWORD,
    chromium,
    live,
    pytestmark,
    screenshot,
    superuser,
    url,
)

STATES = ["delivered", "delayed", "bounced", "partly_bounced", ""]
WORDS = {"pl": ["dostarczono", "opóźnione, serwer wciąż próbuje", "odrzucono (zwrot)",
                "odrzucono dla części odbiorców"],
         "en": ["delivered", "delayed, still trying", "bounced", "bounced for some recipients"]}


@pytest.mark.parametrize("language", ["pl", "en"])
def test_delivery_states_in_the_mail_log_and_detail(chromium, live, transactional_db,  # noqa: F811
                                                    screenshot, language):  # noqa: F811
    admin = superuser("admin")
    for number, state in enumerate(STATES):
        MailLog.objects.create(
            status="sent", scope="global", transport="smtp", delivery=state,
            server="smtp.serwer-pocztowy-firmy.example:587", sender="biuro@firma.example",
            recipients="ksiegowosc@kontrahent-o-dlugiej-nazwie.example, kopia@firma.example",
            subject=f"Przypomnienie o zaległej płatności: FV/{number}/2026 – Firma Demo sp. z o.o.",
            sent_by=admin, message_id=f"<m{number}@firma.example>")
    row = MailLog.objects.create(
        status="sent", scope="global", transport="smtp", sent_by=admin,
        recipients="odbiorca@example.com, pelna@example.com", subject="Faktura FV/9/2026",
        message_id="<msg-1@nadawca.example>", envelope_id="abc123")
    apply_report(dsn("abc123", [("odbiorca@example.com", "failed", "5.1.1"),
                                ("pelna@example.com", "delayed", "4.2.2")]))
    context = chromium.new_context(locale=language, viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live.url}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.goto(url(live, "maillog_changelist"))
        sizes = page.evaluate("""() => ({
            table: document.querySelector('#result_list').getBoundingClientRect().right,
            box: document.querySelector('#changelist-form .results').getBoundingClientRect().right,
            subject: document.querySelector('#result_list td.field-subject_short')
                .getBoundingClientRect().width})""")
        screenshot(page, f"mail-log-delivery-{language}")
        assert sizes["table"] <= sizes["box"] + 1, sizes  # no horizontal scrolling
        assert sizes["subject"] >= 200, sizes
        text = page.inner_text("#result_list")
        for words in WORDS[language]:
            assert words in text
        page.goto(url(live, "maillog_change", row.pk))
        events = page.inner_text(".symfonia-events")
        screenshot(page, f"mail-log-detail-delivery-{language}")
        assert "odbiorca@example.com" in events and "pelna@example.com" in events
        hint = {"pl": "Adres nie istnieje", "en": "The address does not exist"}[language]
        assert hint in events
    finally:
        context.close()
