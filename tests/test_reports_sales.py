"""The example sales app shows whether each contractor's last reminder arrived."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from symfonia_mail.models import MailLog, ReminderRecord
from symfonia_mail.reports import apply_report

from .reports_samples import dsn
from .test_reminders_sales import ledger, run  # noqa: F401 - fixture, helper

pytestmark = pytest.mark.django_db


def test_contractors_show_whether_the_last_reminder_arrived(ledger, global_config,  # noqa: F811
                                                            admin_client):
    run()
    acme_record = ReminderRecord.objects.get(
        contractor_key=f"sales.contractor:{ledger['acme'].pk}")
    acme_log = MailLog.objects.get(message_id=acme_record.message_id)
    # No DSN asked for (no envelope id): matched by the returned Message-ID.
    apply_report(dsn("", [("ksiegowosc@acme.example", "failed", "5.1.1")],
                     message_id=acme_log.message_id))
    zuraw_record = ReminderRecord.objects.get(
        contractor_key=f"sales.contractor:{ledger['zuraw'].pk}")
    zuraw_log = MailLog.objects.get(message_id=zuraw_record.message_id)
    apply_report(dsn("", [("a@zuraw.example", "delivered", "2.0.0")],
                     message_id=zuraw_log.message_id))

    with CaptureQueriesContext(connection) as queries:
        html = admin_client.get(reverse("admin:sales_contractor_changelist"),
                                headers={"Accept-Language": "en"}).content.decode()
    rows = {name: html.split(name, 1)[1].split("</tr>", 1)[0]
            for name in ("ACME sp. z o.o.", "Żuraw s.c.", "Płacący w terminie")}
    assert ">bounced</span>" in rows["ACME sp. z o.o."]
    assert ">delivered</span>" in rows["Żuraw s.c."]
    assert "symfonia-delivery" not in rows["Płacący w terminie"]  # never reminded
    assert len(queries) < 12  # one list query, not one per contractor
