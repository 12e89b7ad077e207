"""Issue 19 in Chromium: the administrator's first hour, second pass.

At 1366x768 (an office laptop) and 1920x1080, in Polish and English. Set
``SYMFONIA_SCREENSHOTS=docs/screenshots`` to refresh the screenshots.
"""

import pytest

from symfonia_mail.diagnostics import run_smtp_test
from symfonia_mail.models import GlobalMailConfig, MailLog
from symfonia_mail.resolver import from_model

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
    for status, sent_by in (("partial", admin), ("failed", None), ("sent", None),
                            ("retry", admin), ("unknown", admin)):
        MailLog.objects.create(
            status=status, scope="global", transport="smtp", sent_by=sent_by,
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
    assert table[0] <= table[1] + 1, table  # still no horizontal scrolling
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
