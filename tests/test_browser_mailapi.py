"""The API transports in a real browser (Chromium): DSN options off, Test SMTP through Graph."""

from .test_browser import (  # noqa: F401 - pytest fixtures
    chromium,
    live,
    page_for,
    pytestmark,
    superuser,
    url,
)
from .test_mailapi import graph_mirror, save_api  # noqa: F401 - a pytest fixture


def test_graph_configuration_turns_dsn_off_and_tests_through_the_api(
        page_for, live, graph_mirror, token_endpoint):  # noqa: F811 - the fixtures
    save_api(token_endpoint, "microsoft_graph")
    page = page_for(superuser("admin"))
    page.goto(url(live, "globalmailconfig_change", 1))
    boxes = "input[name=dsn_notify]"
    assert page.locator(boxes).count() == 5
    assert all(page.locator(boxes).nth(i).is_disabled() for i in range(5))
    # Back to SMTP: the options come back, as they were; to Graph again: off.
    page.select_option("#id_transport", "smtp")
    assert page.is_enabled(f"{boxes}[value=OnFailure]")
    page.check(f"{boxes}[value=OnFailure]")
    page.select_option("#id_transport", "microsoft_graph")
    assert page.is_disabled(f"{boxes}[value=OnFailure]")
    assert not page.is_checked(f"{boxes}[value=OnFailure]")
    page.select_option("#id_transport", "smtp")
    assert page.is_checked(f"{boxes}[value=OnFailure]")
    page.select_option("#id_transport", "microsoft_graph")

    page.click("button[name=_test_smtp]")
    report = page.wait_for_selector(".messagelist li.success")
    text = report.inner_text()
    assert "Wysyłka przez API skrzynki" in text and graph_mirror.url in text
    assert len(graph_mirror.delivered) == 1
