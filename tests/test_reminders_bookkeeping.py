"""Reminders: after the claim, one transaction per contractor for the MailLog row and the record."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from symfonia_mail.models import MailLog, ReminderRecord
from symfonia_mail.reminders import ContractorReminder, OverdueDocument, send_reminders


def reminder(name, email):
    today = timezone.localdate()
    document = OverdueDocument(number=f"FV/{name}", issue_date=today - datetime.timedelta(30),
                               due_date=today - datetime.timedelta(10), amount=Decimal("10"))
    return ContractorReminder(name=name, emails=[email], documents=[document], key=f"t:{name}")


def writes_and_commits(queries):
    """Return the SQL verbs that write or end a transaction, in order."""
    verbs = []
    for query in queries:
        verb = query["sql"].split()[0].upper()
        if verb in ("BEGIN", "COMMIT", "INSERT", "UPDATE", "DELETE"):
            # deliveryevent first: its rows name their maillog_id.
            table = next((t for t in ("deliveryevent", "maillog", "reminderrecord")
                          if t in query["sql"]), "")
            verbs.append(f"{verb} {table}".strip())
    return verbs


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("email", ["ok@kontrahent.example", "odrzucony@kontrahent.example"],
                         ids=["sent", "refused"])
def test_maillog_row_and_claim_outcome_commit_together(make_smtp_server, email, settings):
    from symfonia_mail.models import GlobalMailConfig

    from .conftest import config_values

    server = make_smtp_server(tls=None, dsn=True,
                              refuse_rcpt={"odrzucony@kontrahent.example": "550 5.1.1 unknown"})
    GlobalMailConfig.objects.update_or_create(pk=1, defaults=config_values(
        server, security="none", username="", password=""))
    with CaptureQueriesContext(connection) as captured:
        [result] = send_reminders([reminder("ACME", email)])
    verbs = writes_and_commits(captured.captured_queries)
    # The claim commits on its own first (other runs must see it before we send) ...
    claim_end = verbs.index("COMMIT", verbs.index("INSERT reminderrecord"))
    after_claim = verbs[claim_end + 1:]
    # ... then the log row and the claim's outcome share one transaction.
    if result.status == "sent":
        outcome = ["UPDATE reminderrecord"]
    else:  # the refusal is also the recipient's failed delivery event (issue 21)
        outcome = ["INSERT deliveryevent", "DELETE reminderrecord"]
    assert after_claim == ["BEGIN", "INSERT maillog", *outcome, "COMMIT"], verbs
    assert MailLog.objects.count() == 1
    assert ReminderRecord.objects.count() == (1 if result.status == "sent" else 0)
