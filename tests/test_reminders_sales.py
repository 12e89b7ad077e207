"""The example project's sales app: reminders from invoices, command, admin, seed, PDFs."""

import datetime
import io
import logging
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from sales import demo_data
from sales.models import Company, Contractor, Invoice
from sales.pdf import render_invoice_pdf

from symfonia_mail.models import GlobalMailConfig, MailLog, ReminderRecord, UserMailConfig

from .conftest import config_values

pytestmark = pytest.mark.django_db

# Every date derives from the real local day, so the tests pass on any day: the admin
# action (no --as-of) and the command (--as-of TODAY) must agree on what is overdue.
TODAY = timezone.localdate()


def invoice(contractor, number, due_days_ago, amount="100.00", paid="0.00", currency="PLN"):
    due = TODAY - datetime.timedelta(days=due_days_ago)
    return Invoice.objects.create(
        contractor=contractor, number=number, issue_date=due - datetime.timedelta(days=14),
        due_date=due, amount=Decimal(amount), paid_amount=Decimal(paid), currency=currency,
    )


@pytest.fixture
def ledger():
    """Three contractors: two owe money, one does not."""
    Company.objects.create(name="Firma Testowa sp. z o.o.", tax_id="5213000000",
                           bank_account="PL61 1090 1014 0000 0712 1981 2874")
    acme = Contractor.objects.create(name="ACME sp. z o.o.", emails="ksiegowosc@acme.example")
    invoice(acme, "FV/1/2026", 40, "1230.00")
    invoice(acme, "FV/2/2026", 10, "615.00")
    invoice(acme, "FV/3/2026", 30, "500.00", paid="500.00")  # paid
    invoice(acme, "FV/4/2026", -5, "800.00")  # not due yet
    zuraw = Contractor.objects.create(name="Żuraw s.c.", emails="a@zuraw.example")
    invoice(zuraw, "FV/5/2026", 3, "1000.00", paid="400.00")  # partially paid
    clean = Contractor.objects.create(name="Płacący w terminie", emails="ok@x.example")
    invoice(clean, "FV/6/2026", 20, "50.00", paid="50.00")
    invoice(clean, "FV/7/2026", -1, "70.00")
    return {"acme": acme, "zuraw": zuraw, "clean": clean}


def run(*args, stderr=None):
    out = io.StringIO()
    call_command("send_payment_reminders", "--as-of", TODAY.isoformat(), *args, stdout=out,
                 stderr=stderr or io.StringIO())
    return out.getvalue()


def totals(partial=0, **counts):
    """Return the start of the command's totals line, in the active language."""
    line = gettext(
        "Sent: %(sent)d, partial: %(partial)d, failed: %(failed)d, skipped: %(skipped)d "
        "(as of %(date)s, %(who)s)."
    ) % {**counts, "partial": partial, "date": "DATE", "who": ""}
    return line.split(" (")[0]


def attachments(message):
    return {part.get_filename(): part.get_content() for part in message.iter_attachments()}


def test_command_sends_one_reminder_per_contractor_with_overdue_invoices(
    ledger, global_config, smtp_server,
):
    output = run()

    assert [m.rcpt_tos for m in smtp_server.messages] == [
        ["ksiegowosc@acme.example"], ["a@zuraw.example"],
    ]
    acme, zuraw = (m.message for m in smtp_server.messages)
    assert "FV/1/2026, FV/2/2026" in acme["Subject"]
    assert set(attachments(acme)) == {"FV_1_2026.pdf", "FV_2_2026.pdf"}
    text = zuraw.get_body(("plain",)).get_content()
    # Partially paid: the reminder asks for what is outstanding.
    assert "kwota: 1\xa0000,00 PLN, pozostaje do zapłaty: 600,00 PLN" in text
    assert "Płacący w terminie" not in output
    assert totals(sent=2, failed=0, skipped=0) in output
    assert "ACME sp. z o.o." in output and "FV/1/2026, FV/2/2026" in output


def test_command_dry_run_sends_nothing(ledger, global_config, smtp_server):
    output = run("--dry-run")
    assert smtp_server.messages == []
    assert not ReminderRecord.objects.exists()
    assert gettext("would be sent (dry run)") in output
    assert gettext(
        "Dry run, nothing was sent. Would send: %(planned)d, skipped: %(skipped)d, "
        "failed: %(failed)d (as of %(date)s)."
    ) % {"planned": 2, "skipped": 0, "failed": 0, "date": TODAY} in output


def test_command_second_run_skips_and_force_sends_again(ledger, global_config, smtp_server):
    run()
    second = run()
    assert len(smtp_server.messages) == 2
    assert gettext("already reminded today about the same documents (force to send again)") \
        in second
    assert totals(sent=0, failed=0, skipped=2) in second
    run("--force")
    assert len(smtp_server.messages) == 4


REFUSED = "nie-ma@acme.example"


@pytest.fixture
def refusing_server(make_smtp_server, global_config):
    """The global configuration's server, refusing REFUSED with 550 5.1.1."""
    server = make_smtp_server(tls="starttls", users={"mailer": "pw-123456"},
                              refuse_rcpt={REFUSED: "550 5.1.1 User unknown"})
    for name, value in config_values(server).items():
        setattr(global_config, name, value)
    global_config.save()
    return server


def test_command_reports_a_partly_refused_reminder_as_partial_with_the_address(
    ledger, refusing_server,
):
    Contractor.objects.filter(pk=ledger["acme"].pk).update(
        emails=f"ksiegowosc@acme.example, {REFUSED}")
    output = run()

    assert [m.rcpt_tos for m in refusing_server.messages] == [
        ["ksiegowosc@acme.example"], ["a@zuraw.example"],
    ]
    row = next(line for line in output.splitlines() if line.startswith("ACME"))
    assert gettext("partial") in row and REFUSED in row and "550 5.1.1" in row
    assert totals(sent=1, partial=1, failed=0, skipped=0) in output


def test_admin_message_reports_a_partly_refused_reminder(ledger, refusing_server, client):
    Contractor.objects.filter(pk=ledger["acme"].pk).update(
        emails=f"ksiegowosc@acme.example, {REFUSED}")
    admin = get_user_model().objects.create_superuser("szef", "szef@firma.example", "pw")
    client.force_login(admin)
    response = client.post(reverse("admin:sales_contractor_changelist"), {
        "action": "send_payment_reminders", "_selected_action": [ledger["acme"].pk],
    }, follow=True)
    shown = [(m.level_tag, str(m)) for m in response.context["messages"]]
    label = gettext("partial").capitalize()
    [(level, text)] = shown
    assert level == "warning"
    assert text.startswith(f'{label}: 1<ul class="symfonia-list"><li>ACME sp. z o.o. — ')
    assert REFUSED in text, shown


def test_refused_contractor_whose_cc_copy_went_out_is_partial_everywhere(
        ledger, refusing_server, global_config, client):
    """Issue 19 item 14: the log, the record, the command's totals and the admin agree."""
    global_config.cc = "kopia@firma.example"
    global_config.save()
    Contractor.objects.filter(pk=ledger["acme"].pk).update(emails=REFUSED)
    output = run()
    assert refusing_server.messages[0].rcpt_tos == ["kopia@firma.example"]
    row = next(line for line in output.splitlines() if line.startswith("ACME"))
    assert gettext("partial") in row and REFUSED in row
    assert totals(sent=1, partial=1, failed=0, skipped=0) in output
    log = MailLog.objects.get(recipients__contains="kopia@firma.example",
                              refused_recipients__contains=REFUSED)
    assert log.status == MailLog.Status.PARTIAL
    record = ReminderRecord.objects.get(contractor_key=f"sales.contractor:{ledger['acme'].pk}")
    assert record.status == ReminderRecord.Status.PARTIAL and REFUSED in record.refused
    # The admin says the same: a warning "partial", not "failed".
    admin = get_user_model().objects.create_superuser("szef", "szef@firma.example", "pw")
    client.force_login(admin)
    response = client.post(reverse("admin:sales_contractor_changelist"), {
        "action": "send_payment_reminders_force", "post": "yes",
        "_selected_action": [ledger["acme"].pk],
    }, follow=True)
    [message] = response.context["messages"]
    assert message.level_tag == "warning"
    assert str(message).startswith(gettext("partial").capitalize() + ": 1")


def test_admin_lists_skipped_contractors_one_per_item(ledger, global_config, smtp_server,
                                                     client):
    run()
    admin = get_user_model().objects.create_superuser("szef", "szef@firma.example", "pw")
    client.force_login(admin)
    response = client.post(reverse("admin:sales_contractor_changelist"), {
        "action": "send_payment_reminders",
        "_selected_action": [ledger["acme"].pk, ledger["zuraw"].pk],
    }, follow=True)
    [message] = response.context["messages"]
    text = str(message)
    assert text.startswith(gettext("skipped").capitalize() + ": 2<ul")
    assert text.count("<li>") == 2
    assert "<li>ACME sp. z o.o. — " in text and "<li>Żuraw s.c. — " in text
    assert "; " not in text  # no longer one paragraph


def test_command_as_of_decides_what_is_overdue(ledger, global_config, smtp_server):
    output = run("--as-of", (TODAY - datetime.timedelta(days=20)).isoformat())
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ksiegowosc@acme.example"]]
    assert "FV/1/2026" in output and "FV/2/2026" not in output


def test_command_as_user_uses_their_configuration(ledger, global_config, make_smtp_server):
    own = make_smtp_server(tls="starttls", users={"anna": "anna-pw-1"})
    user = get_user_model().objects.create_user("anna", first_name="Anna", last_name="Nowak")
    UserMailConfig.objects.create(user=user, scope="individual", **config_values(own))
    output = run("--as-user", "anna")
    assert len(own.messages) == 2
    assert gettext("sent as %(user)s") % {"user": "anna"} in output
    with pytest.raises(CommandError) as error:
        run("--as-user", "nobody")
    assert str(error.value) == gettext("No user named %(name)r.") % {"name": "nobody"}


def test_command_refuses_under_system_transport(ledger, global_config, smtp_server):
    global_config.transport = "system"
    global_config.save()
    with pytest.raises(CommandError, match="SMTP"):
        run()
    assert smtp_server.messages == []


def test_command_rejects_a_bad_date(ledger):
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("send_payment_reminders", "--as-of", "26.11.2026", stdout=io.StringIO())


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_command_draws_a_progress_bar_on_a_terminal(ledger, global_config, smtp_server):
    terminal = _Terminal()
    run(stderr=terminal)
    drawn = terminal.getvalue()
    assert "\r\x1b[K" in drawn
    assert "[###############...............] 1/2 ACME sp. z o.o." in drawn
    assert "[##############################] 2/2 Żuraw s.c." in drawn
    # The INFO filter is removed after the run.
    assert not logging.getLogger("symfonia_mail").filters
    # Not a terminal: no bar.
    plain = io.StringIO()
    run("--force", stderr=plain)
    assert "[###" not in plain.getvalue()


def test_admin_action_on_contractors_sends_as_the_logged_in_user(
    ledger, global_config, smtp_server, client,
):
    admin = get_user_model().objects.create_superuser("szef", "szef@firma.example", "pw",
                                                      first_name="Jan", last_name="Szef")
    client.force_login(admin)
    ids = [ledger["acme"].pk, ledger["clean"].pk]
    response = client.post(reverse("admin:sales_contractor_changelist"), {
        "action": "send_payment_reminders", "_selected_action": ids,
    }, follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert len(smtp_server.messages) == 1
    assert "Jan Szef" in smtp_server.messages[0].message.get_body(("plain",)).get_content()
    sent_label = gettext("sent").capitalize()
    assert f"{sent_label}: 1 (ACME sp. z o.o.)" in shown, shown
    skipped = f"Płacący w terminie — {gettext('no overdue documents')}"
    assert any(skipped in text for text in shown), shown
    assert ReminderRecord.objects.get().sent_by == admin


def test_admin_action_on_invoices_reminds_about_the_selected_overdue_ones(
    ledger, global_config, smtp_server, client,
):
    admin = get_user_model().objects.create_superuser("szef", "szef@firma.example", "pw")
    client.force_login(admin)
    chosen = Invoice.objects.filter(number__in=["FV/2/2026", "FV/4/2026", "FV/5/2026"])
    client.post(reverse("admin:sales_invoice_changelist"), {
        "action": "send_payment_reminders", "_selected_action": [i.pk for i in chosen],
    })
    subjects = [m.message["Subject"] for m in smtp_server.messages]
    assert len(subjects) == 2
    assert "FV/2/2026" in subjects[0] and "FV/1/2026" not in subjects[0]
    assert "FV/5/2026" in subjects[1]


def test_admin_action_needs_the_change_permission(ledger, global_config, smtp_server, client):
    clerk = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_contractor"))
    client.force_login(clerk)
    response = client.get(reverse("admin:sales_contractor_changelist"))
    assert b"send_payment_reminders" not in response.content


def test_admin_shows_the_invoice_pdf(ledger, client):
    admin = get_user_model().objects.create_superuser("szef", "szef@firma.example", "pw")
    client.force_login(admin)
    pk = Invoice.objects.get(number="FV/1/2026").pk
    response = client.get(reverse("admin:sales_invoice_pdf", args=[pk]))
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="FV_1_2026.pdf"' in response["Content-Disposition"]
    assert response.content.startswith(b"%PDF-")
    client.logout()
    assert client.get(reverse("admin:sales_invoice_pdf", args=[pk])).status_code == 302


def test_invoice_pdf_prints_polish_letters_with_an_embedded_font(ledger, tmp_path):
    acme = ledger["acme"]
    acme.name = "Zażółć Gęślą Jaźń sp. z o.o."
    acme.address = "ul. Śląska 5 (Źródła)\n90-001 Łódź"
    item = Invoice.objects.get(number="FV/1/2026")
    item.contractor = acme
    pdf = tmp_path / "fv.pdf"
    pdf.write_bytes(render_invoice_pdf(item))
    assert subprocess.run(["qpdf", "--check", str(pdf)], capture_output=True).returncode == 0
    expanded = tmp_path / "qdf.pdf"
    subprocess.run(["qpdf", "--qdf", "--object-streams=disable", str(pdf), str(expanded)],
                   check=True)
    content = expanded.read_bytes()
    assert b"/FontFile2" in content  # the TrueType font is embedded
    # Each Polish letter has a glyph mapped back to its code point (ToUnicode).
    for letter in "ąęłóśźżćńŁŹŚ":
        assert f"<{ord(letter):04X}>".encode() in content, letter


def test_seed_demo_is_idempotent_and_has_the_special_contractors(db):
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())
    assert Company.objects.count() == 1
    assert Contractor.objects.count() == demo_data.CONTRACTOR_COUNT
    assert Invoice.objects.count() == demo_data.INVOICE_COUNT
    today = timezone.localdate()
    overdue = Invoice.objects.overdue(today)
    owing = set(overdue.values_list("contractor__emails", flat=True))
    assert "" in owing and demo_data.REFUSED_ADDRESS in owing
    assert 0.2 < overdue.count() / Invoice.objects.count() < 0.6
    # Some contractors owe nothing: they get no reminder.
    assert overdue.values("contractor").distinct().count() < demo_data.CONTRACTOR_COUNT
    assert GlobalMailConfig.get_solo().company_name == "Firma Demo sp. z o.o."


def test_refused_address_matches_the_demo_capture_server():
    capture = pytest.importorskip("demo.capture")
    assert capture.REFUSED_ADDRESS == demo_data.REFUSED_ADDRESS


@pytest.mark.slow
def test_demo_scenario_end_to_end(db, make_smtp_server):
    """seed_demo + send_payment_reminders against a server refusing the demo's address."""
    server = make_smtp_server(tls="starttls", users={"demo": "demo-pw-1"}, refuse_rcpt={
        demo_data.REFUSED_ADDRESS: "550 5.1.1 Recipient address rejected: User unknown",
    })
    call_command("seed_demo", stdout=io.StringIO())
    config = GlobalMailConfig.get_solo()
    for name, value in config_values(server).items():
        setattr(config, name, value)
    config.save()
    out = io.StringIO()
    call_command("send_payment_reminders", stdout=out, stderr=io.StringIO())
    owing = Invoice.objects.overdue(timezone.localdate()).values("contractor").distinct().count()
    output = out.getvalue()
    assert totals(sent=owing - 2, failed=1, skipped=1) in output
    assert len(server.messages) == owing - 2
    assert gettext("no e-mail address") in output and "550 5.1.1" in output


def test_command_help_is_in_the_sites_language():
    """Issue 19 item 12: `manage.py send_payment_reminders --help` of the Polish demo."""
    project = Path(__file__).resolve().parent.parent / "example_project"
    env = {**os.environ, "PYTHONPATH": str(project.parent)}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the example project's own settings (pl)
    result = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "manage.py", "send_payment_reminders", "--help"], cwd=project,
        env=env, capture_output=True, text=True, timeout=120, check=True)
    assert "Wysyła upomnienia o zaległych płatnościach" in result.stdout
    assert "Wyślij jako ten użytkownik" in result.stdout and "--as-of DATA" in result.stdout
    assert "Send overdue-payment reminders" not in result.stdout
    assert "Send as this user" not in result.stdout
