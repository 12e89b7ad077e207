"""symfonia_mail.reminders end to end against loopback SMTP servers."""

import datetime
import io
import subprocess
from decimal import Decimal

import pikepdf
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext

from symfonia_mail.exceptions import TransportNotAllowed
from symfonia_mail.models import MailLog, ReminderRecord, UserMailConfig
from symfonia_mail.reminders import (
    ContractorReminder,
    OverdueDocument,
    Status,
    count,
    documents_digest,
    send_reminders,
)
from symfonia_mail.reminders.claims import claim

from .conftest import config_values, save_global

pytestmark = pytest.mark.django_db

AS_OF = datetime.date(2026, 11, 26)
REFUSED = "odrzucony@kontrahent.example"


def pdf_bytes(text="invoice"):
    """Return a small real PDF."""
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Title"] = text
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def doc(number, due_days_ago=10, amount="100.00", outstanding=None, currency="PLN", pdf=True):
    due = AS_OF - datetime.timedelta(days=due_days_ago)
    return OverdueDocument(
        number=number, issue_date=due - datetime.timedelta(days=14), due_date=due,
        amount=Decimal(amount), outstanding=None if outstanding is None else Decimal(outstanding),
        currency=currency, pdf=pdf_bytes(number) if pdf else None,
    )


def contractor(name, emails, *documents, key=None):
    return ContractorReminder(name=name, emails=emails, documents=list(documents),
                              key=key or f"test:{name}")


def attachments(message):
    return {part.get_filename(): part.get_content() for part in message.iter_attachments()}


def test_one_message_per_contractor_lists_all_overdue_documents(global_config, smtp_server):
    results = send_reminders([
        contractor("ACME sp. z o.o.", ["ksiegowosc@acme.example"],
                   doc("FV/1/2026", 40, "1230.00"), doc("FV/2/2026", 5, "615.00", "300.00")),
        contractor("Żuraw s.c.", "a@zuraw.example, b@zuraw.example", doc("FV/3/2026", 1)),
    ], as_of=AS_OF)

    assert [r.status for r in results] == [Status.SENT, Status.SENT]
    assert [r.documents for r in results] == [("FV/1/2026", "FV/2/2026"), ("FV/3/2026",)]
    assert len(smtp_server.messages) == 2
    first, second = smtp_server.messages
    assert first.rcpt_tos == ["ksiegowosc@acme.example"]
    assert sorted(second.rcpt_tos) == ["a@zuraw.example", "b@zuraw.example"]
    message = first.message
    # Django folds a long encoded subject onto a continuation line; the parser keeps its space.
    assert message["Subject"].strip() == (
        "Przypomnienie o zaległej płatności: FV/1/2026, FV/2/2026 – Firma Testowa sp. z o.o."
    )
    assert message["Message-ID"] == results[0].message_id
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    # The table: both documents, the partial payment counted by what is outstanding.
    assert "FV/1/2026" in text and "FV/2/2026" in text
    assert "ACME sp. z o.o." in text
    assert "40 dni po terminie" in text
    assert "pozostaje do zapłaty: 300,00 PLN" in text
    assert "Łącznie do zapłaty: 1\xa0530,00 PLN" in text  # pl groups with NBSP
    assert "<td>FV/2/2026</td>" in html and "300,00 PLN" in html
    assert set(attachments(message)) == {"FV_1_2026.pdf", "FV_2_2026.pdf"}
    assert attachments(message)["FV_1_2026.pdf"].startswith(b"%PDF-")


def test_only_overdue_unpaid_documents_are_listed_and_nothing_is_sent_without_them(
    global_config, smtp_server,
):
    paid = doc("FV/10/2026", 30, "100.00", "0.00")
    not_due = doc("FV/11/2026", 0)  # due today: not overdue yet
    due_tomorrow = doc("FV/12/2026", -1)
    results = send_reminders([
        contractor("Paid up", ["paid@x.example"], paid, not_due, due_tomorrow),
        contractor("Mixed", ["mixed@x.example"], paid, doc("FV/13/2026", 3)),
    ], as_of=AS_OF)

    assert results[0].status == Status.SKIPPED
    assert results[0].reason == gettext("no overdue documents")
    assert results[1].status == Status.SENT and results[1].documents == ("FV/13/2026",)
    assert [m.rcpt_tos for m in smtp_server.messages] == [["mixed@x.example"]]
    assert set(attachments(smtp_server.messages[0].message)) == {"FV_13_2026.pdf"}


def test_refused_under_system_transport_with_the_reason(global_config, smtp_server):
    global_config.transport = "system"
    global_config.save()
    with pytest.raises(TransportNotAllowed) as error:
        send_reminders([contractor("ACME", ["a@acme.example"], doc("FV/1/2026"))],
                       as_of=AS_OF)
    text = str(error.value)
    assert text.startswith(gettext(
        "Payment reminders need the SMTP transport: the program must send them "
        "itself, in bulk, with the documents attached, which the system mail route "
        "cannot do. %(config)s uses the %(transport)s transport; switch it to SMTP "
        "in the mail configuration."
    ).split("%(config)s")[0])
    assert gettext("The global configuration") in text and "system" in text
    assert smtp_server.messages == []
    assert not ReminderRecord.objects.exists()


def test_refused_when_the_users_individual_configuration_is_system(global_config, smtp_server):
    user = get_user_model().objects.create_user("anna")
    UserMailConfig.objects.create(user=user, scope="individual", transport="system")
    expected = gettext("The individual configuration of %(user)s") % {"user": "anna"}
    with pytest.raises(TransportNotAllowed, match=expected):
        send_reminders([contractor("ACME", ["a@acme.example"], doc("FV/1/2026"))],
                       user=user, as_of=AS_OF, dry_run=True)


def test_contractor_without_email_is_skipped_and_reported(global_config, smtp_server):
    results = send_reminders([
        contractor("No mail", "", doc("FV/1/2026")),
        contractor("Blank", [" "], doc("FV/2/2026")),
        contractor("ACME", ["a@acme.example"], doc("FV/3/2026")),
    ], as_of=AS_OF)
    no_email = gettext("no e-mail address")
    assert [(r.status, r.reason) for r in results[:2]] == [
        (Status.SKIPPED, no_email), (Status.SKIPPED, no_email),
    ]
    assert results[2].status == Status.SENT
    assert len(smtp_server.messages) == 1
    assert count(results) == {Status.SENT: 1, Status.PARTIAL: 0, Status.FAILED: 0,
                              Status.SKIPPED: 2, Status.PLANNED: 0}


def test_one_failure_does_not_stop_the_others(db, make_smtp_server):
    server = make_smtp_server(tls="starttls", users={"mailer": "pw-123456"}, refuse_rcpt={
        REFUSED: "550 5.1.1 <odrzucony@kontrahent.example>: Recipient address rejected",
    })
    save_global(server)

    def broken_pdf():
        raise OSError("the invoice archive is offline")

    results = send_reminders([
        contractor("First", ["first@x.example"], doc("FV/1/2026")),
        contractor("Refused", [REFUSED], doc("FV/2/2026")),
        contractor("Broken PDF", ["broken@x.example"],
                   OverdueDocument("FV/3/2026", AS_OF, AS_OF, Decimal(1), pdf=broken_pdf)),
        contractor("Last", ["last@x.example"], doc("FV/4/2026")),
    ], as_of=AS_OF + datetime.timedelta(days=1))

    assert [r.status for r in results] == [
        Status.SENT, Status.FAILED, Status.FAILED, Status.SENT,
    ]
    assert "550" in results[1].reason and REFUSED in results[1].reason
    assert "the invoice archive is offline" in results[2].reason
    assert [m.rcpt_tos for m in server.messages] == [["first@x.example"], ["last@x.example"]]
    # The failed ones are not recorded, so the next run tries them again.
    assert sorted(ReminderRecord.objects.values_list("contractor_name", flat=True)) == [
        "First", "Last",
    ]
    # One connection for the whole run: one login.
    assert server.login_attempts == 1
    assert MailLog.objects.filter(status=MailLog.Status.FAILED).count() == 1


def test_a_partly_refused_reminder_is_partial_with_the_refused_address_and_recorded(
    db, make_smtp_server
):
    server = make_smtp_server(tls="starttls", users={"mailer": "pw-123456"},
                              refuse_rcpt={REFUSED: "550 5.1.1 User unknown"})
    save_global(server)
    results = send_reminders(
        [contractor("Half", ["ok@x.example", REFUSED], doc("FV/1/2026"))], as_of=AS_OF,
    )
    assert results[0].status == Status.PARTIAL
    assert results[0].refused == (REFUSED,)
    assert REFUSED in results[0].reason
    assert "550" in results[0].reason
    assert server.messages[0].rcpt_tos == ["ok@x.example"]
    record = ReminderRecord.objects.get()
    assert record.status == ReminderRecord.Status.PARTIAL
    assert REFUSED in record.refused
    # Delivered to the other address: a rerun does not send it again.
    assert send_reminders(
        [contractor("Half", ["ok@x.example", REFUSED], doc("FV/1/2026"))], as_of=AS_OF,
    )[0].status == Status.SKIPPED


def test_a_reminder_refused_for_every_address_fails_and_gives_its_claim_up(
    db, make_smtp_server
):
    server = make_smtp_server(tls="starttls", users={"mailer": "pw-123456"},
                              refuse_rcpt={REFUSED: "550 5.1.1 User unknown"})
    save_global(server)
    results = send_reminders([contractor("None", [REFUSED], doc("FV/1/2026"))], as_of=AS_OF)
    assert results[0].status == Status.FAILED
    assert results[0].refused == (REFUSED,)
    assert not ReminderRecord.objects.exists()


def test_no_duplicate_on_a_second_run_the_same_day_unless_forced(global_config, smtp_server):
    reminders = [contractor("ACME", ["a@acme.example"], doc("FV/1/2026"), doc("FV/2/2026"))]
    first = send_reminders(reminders, as_of=AS_OF)
    second = send_reminders(reminders, as_of=AS_OF)

    assert first[0].status == Status.SENT
    assert second[0].status == Status.SKIPPED
    assert second[0].reason == gettext(
        "already reminded today about the same documents (force to send again)"
    )
    assert len(smtp_server.messages) == 1
    record = ReminderRecord.objects.get()
    assert record.documents == "FV/1/2026\nFV/2/2026"
    assert record.message_id == first[0].message_id
    assert record.recipients == "a@acme.example"

    # A new overdue document makes it a different reminder.
    more = [contractor("ACME", ["a@acme.example"], doc("FV/1/2026"), doc("FV/2/2026"),
                       doc("FV/3/2026"))]
    assert send_reminders(more, as_of=AS_OF)[0].status == Status.SENT
    forced = send_reminders(reminders, as_of=AS_OF, force=True)
    assert forced[0].status == Status.SENT
    again = send_reminders(reminders, as_of=AS_OF, force=True)
    assert again[0].status == Status.SENT
    assert len(smtp_server.messages) == 4
    # Each forced resend has a row of its own, numbered after the day's first.
    assert sorted(ReminderRecord.objects.filter(documents=record.documents)
                  .values_list("resend", flat=True)) == [0, 1, 2]


def test_the_same_contractor_twice_in_one_run_gets_one_message(global_config, smtp_server):
    item = contractor("ACME", ["a@acme.example"], doc("FV/1/2026"))
    results = send_reminders([item, item], as_of=AS_OF)
    assert [r.status for r in results] == [Status.SENT, Status.SKIPPED]
    assert len(smtp_server.messages) == 1


def test_dry_run_sends_and_records_nothing(global_config, smtp_server):
    reminders = [
        contractor("ACME", ["a@acme.example"], doc("FV/1/2026")),
        contractor("No mail", [], doc("FV/2/2026")),
    ]
    rendered = []
    lazy = OverdueDocument("FV/3/2026", AS_OF, AS_OF - datetime.timedelta(days=1), Decimal(5),
                           pdf=lambda: rendered.append(1) or pdf_bytes())
    reminders.append(contractor("Lazy PDF", ["lazy@x.example"], lazy))
    results = send_reminders(reminders, as_of=AS_OF, dry_run=True)
    assert [r.status for r in results] == [Status.PLANNED, Status.SKIPPED, Status.PLANNED]
    assert rendered == []  # a dry run does not render PDFs
    assert smtp_server.messages == []
    assert not ReminderRecord.objects.exists()
    assert not MailLog.objects.exists()
    assert smtp_server.login_attempts == 0  # not even connected
    # ...and the real run afterwards still sends.
    assert send_reminders(reminders, as_of=AS_OF)[0].status == Status.SENT


def test_pdfs_are_protected_when_an_attachment_password_is_set(
    global_config, smtp_server, tmp_path,
):
    global_config.attachment_password = "Hasło-do-PDF-7"
    global_config.save()
    send_reminders([contractor("ACME", ["a@acme.example"], doc("FV/1/2026"), doc("FV/2/2026"))],
                   as_of=AS_OF)
    files = attachments(smtp_server.messages[0].message)
    assert set(files) == {"FV_1_2026.pdf", "FV_2_2026.pdf"}
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert subprocess.run(["qpdf", "--requires-password", str(path)]).returncode == 0
        right = subprocess.run(
            ["qpdf", "--requires-password", "--password=Hasło-do-PDF-7", str(path)]
        )
        assert right.returncode == 3  # qpdf --requires-password: 3 = the password opens it
        with pikepdf.open(path, password="Hasło-do-PDF-7") as opened:
            assert str(opened.docinfo["/Title"]) == name[:-4].replace("_", "/")


def test_the_individual_scope_of_the_running_user_applies(
    global_config, smtp_server, make_smtp_server,
):
    own_server = make_smtp_server(tls="starttls", users={"anna": "anna-pw-1"})
    user = get_user_model().objects.create_user("anna", first_name="Anna", last_name="Nowak")
    UserMailConfig.objects.create(user=user, scope="individual", **config_values(
        own_server, sender_email="anna.nowak@firma.example", sender_name="Anna Nowak",
    ))
    results = send_reminders(
        [contractor("ACME", ["a@acme.example"], doc("FV/1/2026"))], user=user, as_of=AS_OF,
    )
    assert results[0].status == Status.SENT
    assert smtp_server.messages == []
    received = own_server.messages[0]
    assert received.login == "anna"
    assert received.mail_from == "anna.nowak@firma.example"
    assert "Anna Nowak" in received.message.get_body(("plain",)).get_content()
    assert ReminderRecord.objects.get().sent_by == user
    log = MailLog.objects.get()
    assert log.scope == "individual" and log.config_user == user and log.sent_by == user


def test_progress_is_reported_after_each_contractor(global_config, smtp_server):
    seen = []
    send_reminders(
        [contractor("A", ["a@x.example"], doc("FV/1/2026")), contractor("B", [], doc("FV/2/2026"))],
        as_of=AS_OF, progress=lambda done, total, result: seen.append(
            (done, total, result.contractor.name, result.status)),
    )
    assert seen == [(1, 2, "A", Status.SENT), (2, 2, "B", Status.SKIPPED)]


def test_english_reminder_for_a_contractor_that_asks_for_it(global_config, smtp_server):
    item = ContractorReminder(name="ACME Ltd", emails=["a@acme.example"],
                              documents=[doc("FV/1/2026", currency="EUR")], language="en")
    send_reminders([item], as_of=AS_OF)
    message = smtp_server.messages[0].message
    assert message["Subject"].strip().startswith("Overdue payment reminder: FV/1/2026")
    assert "Total outstanding" in message.get_body(("plain",)).get_content()


def test_a_connection_opened_by_the_caller_is_reused_and_left_open(global_config, smtp_server):
    from django.core.mail import get_connection

    with get_connection() as connection:
        send_reminders([contractor("A", ["a@x.example"], doc("FV/1/2026"))],
                       connection=connection, as_of=AS_OF)
        assert connection.session is not None  # still open
        send_reminders([contractor("B", ["b@x.example"], doc("FV/2/2026"))],
                       connection=connection, as_of=AS_OF)
    assert len(smtp_server.messages) == 2
    assert smtp_server.login_attempts == 1  # one connection for both runs


def test_a_run_never_shows_the_passwords_in_its_repr(global_config):
    from symfonia_mail.config import resolver
    from symfonia_mail.reminders import sending as reminders

    config = resolver.resolve(None)
    run = reminders._ReminderBatch(user=None, as_of=None, today=None, dry_run=True, force=False,
                         language=None, template_key="payment_reminder",
                         session=resolver.Session(),
                         secrets=(config.password, config.attachment_password),
                         connection=None)
    assert config.password and config.password.reveal() not in repr(run)


def test_a_contractor_another_run_is_reminding_is_skipped_with_that_reason(
    global_config, smtp_server
):
    item = contractor("ACME", ["a@acme.example"], doc("FV/1/2026"))
    # Another run (another process) claimed it and is still sending.
    other_run = claim(item.identity, documents_digest(["FV/1/2026"]), timezone.localdate())
    assert other_run.status == ReminderRecord.Status.CLAIMED

    results = send_reminders([item], as_of=AS_OF)
    assert results[0].status == Status.SKIPPED
    started = timezone.localtime(other_run.sent_at).strftime("%H:%M:%S")
    assert results[0].reason == gettext(
        "another run has been sending this reminder since %(time)s (force to send anyway)"
    ) % {"time": started}
    assert smtp_server.messages == []

    forced = send_reminders([item], as_of=AS_OF, force=True)
    assert forced[0].status == Status.SENT
    assert len(smtp_server.messages) == 1
    assert ReminderRecord.objects.get(resend=1).status == ReminderRecord.Status.SENT
