"""Delivery states in the admin: the mail log's column and filter, the events, reminders sent."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from symfonia_mail.models import DeliveryEvent, MailLog, ReminderRecord
from symfonia_mail.reports import apply_report
from symfonia_mail.tracking.status_codes import hint

from .reports_samples import dsn

pytestmark = pytest.mark.django_db

ENVID = "5a0e0f3c2a9b8d7e4f60a1b2c3d4e5f6"


def logged(subject, message_id, envelope_id="", recipients="odbiorca@example.com"):
    return MailLog.objects.create(status="sent", scope="global", transport="smtp",
                                  subject=subject, recipients=recipients,
                                  message_id=message_id, envelope_id=envelope_id)


@pytest.fixture
def bounced():
    row = logged("Faktura odbita", "<msg-1@nadawca.example>", ENVID)
    apply_report(dsn(ENVID))
    return row


@pytest.mark.parametrize(("language", "words"), [
    ("en", ["bounced", "delivered"]), ("pl", ["odrzucono (zwrot)", "dostarczono"])])
def test_the_log_says_the_delivery_in_words(client, admin_user, bounced, language, words):
    delivered = logged("Faktura doszła", "<msg-2@nadawca.example>")
    MailLog.objects.filter(pk=delivered.pk).update(delivery="delivered")
    logged("Bez raportu", "<msg-3@nadawca.example>")
    client.force_login(admin_user)
    html = client.get(reverse("admin:symfonia_mail_maillog_changelist"),
                      headers={"Accept-Language": language}).content.decode()
    for word in words:
        assert f">{word}</span>" in html


def test_the_log_filters_by_delivery(client, admin_user, bounced):
    logged("Bez raportu", "<msg-3@nadawca.example>")
    client.force_login(admin_user)
    response = client.get(reverse("admin:symfonia_mail_maillog_changelist"),
                          {"delivery__exact": "bounced"})
    assert list(response.context["cl"].queryset) == [bounced]


def test_the_detail_page_lists_each_recipients_events_with_a_hint(client, admin_user, bounced):
    client.force_login(admin_user)
    url = reverse("admin:symfonia_mail_maillog_change", args=[bounced.pk])
    html = client.get(url, headers={"Accept-Language": "pl"}).content.decode()
    assert "odbiorca@example.com" in html
    assert "Adres nie istnieje: sprawdź go z odbiorcą." in html
    assert "550 5.1.1 &lt;odbiorca@example.com&gt;: Recipient address rejected" in html
    assert "smtp; 550" not in html  # the type prefix is not for people


def test_hints_by_status_code():
    with translation.override("en"):
        hints_in_english()
    with translation.override("pl"):
        assert hint("5.2.2") == "Skrzynka odbiorcy jest pełna."


def hints_in_english():
    assert "does not exist" in hint("5.1.1")
    assert "full" in hint("5.2.2")
    assert "Still trying" in hint("4.4.7")
    assert "policy" in hint("5.7.1")
    assert hint("5.1.9").startswith("Permanent:") and hint("4.3.9").startswith("Temporary:")
    assert hint("") == "" and hint("9.9") == ""


def test_the_log_list_costs_no_query_per_row(client, admin_user):
    client.force_login(admin_user)
    url = reverse("admin:symfonia_mail_maillog_changelist")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        return len(captured)

    logged("a", "<a@x>")
    few = queries()
    for index in range(10):
        row = logged(f"r{index}", f"<r{index}@x>", envelope_id=f"e{index}")
        DeliveryEvent.objects.create(maillog=row, recipient="odbiorca@example.com",
                                     action="failed", digest=f"d{index}")
    assert queries() == few


def test_reminders_sent_show_whether_each_arrived(client, admin_user, bounced):
    ReminderRecord.objects.create(contractor_key="sales.contractor:1", contractor_name="ACME",
                                  documents="FV/1", sent_on="2026-11-26",
                                  message_id=bounced.message_id)
    ReminderRecord.objects.create(contractor_key="sales.contractor:2", contractor_name="Żuraw",
                                  documents="FV/2", sent_on="2026-11-26", message_id="<none@x>")
    client.force_login(admin_user)
    url = reverse("admin:symfonia_mail_reminderrecord_changelist")
    with CaptureQueriesContext(connection) as captured:
        html = client.get(url, headers={"Accept-Language": "pl"}).content.decode()
    assert html.count(">odrzucono (zwrot)</span>") == 1
    assert "dotarło?" in html.lower()
    assert len(captured) < 15
