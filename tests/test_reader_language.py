"""One language per reader (issue 19 item 12).

MailLog.error stays English (log files, grep); pages render MailLog.problem,
a code and parameters, in the language of whoever reads them. Log lines name
a message clearly even without a Message-ID.
"""

import logging

import pytest
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, send_mail
from django.urls import reverse
from django.utils import translation

import symfonia_mail
from symfonia_mail.background.outbox import cancel
from symfonia_mail.config.resolver import from_model
from symfonia_mail.diagnostics.smtp_test import run_smtp_test
from symfonia_mail.exceptions import RecipientsRefused, ServerTimeout, UnfilledMacro
from symfonia_mail.models import GlobalMailConfig, MailLog
from symfonia_mail.problems import CODES, problem_record, render_problem
from symfonia_mail.tracking.maillog import LOST_AFTER_DATA

from .conftest import config_values
from .test_admin import make_staff

pytestmark = pytest.mark.django_db

REFUSED = "nie-ma@klient.example"


def page(client, obj, language):
    """Return the MailLog change page and changelist of *obj* as *language* reads them."""
    client.force_login(get_user_model().objects.filter(username="szef").first()
                       or make_staff("szef", superuser=True))
    headers = {"Accept-Language": language}
    detail = client.get(reverse("admin:symfonia_mail_maillog_change", args=[obj.pk]),
                        headers=headers)
    listing = client.get(reverse("admin:symfonia_mail_maillog_changelist"), headers=headers)
    assert detail.status_code == listing.status_code == 200
    return detail.content.decode() + listing.content.decode()


def english(text):
    with translation.override("en"):
        return str(text)


def polish(text):
    with translation.override("pl"):
        return str(text)


def test_a_refused_recipient_is_english_in_the_log_and_polish_on_a_polish_page(
        global_config, make_smtp_server, client):
    server = make_smtp_server(tls="starttls", users={"mailer": "s3cret-Pa55"},
                              refuse_rcpt={REFUSED: "550 5.1.1 User unknown"})
    save = GlobalMailConfig.get_solo()
    for name, value in config_values(server).items():
        setattr(save, name, value)
    save.save()
    with translation.override("pl"), pytest.raises(RecipientsRefused):
        send_mail("Faktura", "Treść", None, ["ok@klient.example", REFUSED])
    row = MailLog.objects.get()
    hint = CODES["recipient_refused"]
    # The column: English from end to end, whoever sent it.
    assert row.error.startswith(f"Refused by the server: {REFUSED} (550 5.1.1 User unknown)")
    assert english(hint) in row.error and polish(hint) not in row.error
    # A Polish reader: Polish around the server's own words; an English one: English.
    shown = page(client, row, "pl")
    assert f"Serwer odrzucił: {REFUSED} (550 5.1.1 User unknown)" in shown
    assert polish(hint) in shown and "Refused by the server" not in shown
    shown = page(client, row, "en")
    assert "Refused by the server" in shown and polish(hint) not in shown


def test_an_unfilled_macro_is_said_in_the_readers_language(global_config, client):
    with translation.override("pl"), pytest.raises(UnfilledMacro) as caught:
        send_mail("Umowa {umowa}", "Treść", None, ["klient@example.com"])
    assert str(caught.value).startswith("The message uses {umowa} but no value")
    row = MailLog.objects.get()
    assert "The message uses {umowa}" in row.error
    shown = page(client, row, "pl")
    assert "Wiadomość używa makra {umowa}, ale nie podano jego wartości" in shown
    assert "The message uses" not in shown


def test_a_test_smtp_row_shows_in_the_readers_language(smtp_server, client):
    row = GlobalMailConfig(**config_values(smtp_server, password="wrong-password"))
    report = run_smtp_test(from_model(row), language="pl")
    assert not report.ok and report.failure.name == "login"
    logged = MailLog.objects.get(kind=MailLog.Kind.TEST)
    # Stored in English (the Polish admin ran it) ...
    assert logged.subject.startswith(f"Test SMTP of {smtp_server.host}:{smtp_server.port} "
                                     "failed at step “Login”")
    assert logged.error.startswith("[FAILED] Login") and "535" in logged.error
    # ... shown to each reader in their own language, with the server's words as they came.
    shown = page(client, logged, "en")
    assert "failed at step “Login”" in shown and "[FAILED] Login" in shown
    assert "Logowanie" not in shown
    shown = page(client, logged, "pl")
    assert "nie powiódł się na etapie „Logowanie”" in shown and "[BŁĄD] Logowanie" in shown
    assert "failed at step" not in shown and "535" in shown


def test_the_log_line_of_a_failed_test_smtp_is_whole(smtp_server, caplog):
    row = GlobalMailConfig(**config_values(smtp_server, password="wrong-password"))
    with caplog.at_level(logging.WARNING, logger="symfonia_mail"):
        run_smtp_test(from_model(row), language="pl")
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Mail ")]
    assert line.startswith(f"Mail “Test SMTP of {smtp_server.host}:{smtp_server.port} failed "
                           "at step “Login”.” (no Message-ID) failed via global: [FAILED] Login")
    assert "„" not in line  # no Polish headline cut in the middle


def test_the_log_line_of_a_message_without_message_id_or_subject(global_config, caplog):
    with caplog.at_level(logging.WARNING, logger="symfonia_mail"), \
            pytest.raises(UnfilledMacro):
        EmailMessage("", "Umowa {umowa}", to=["klient@example.com"]).send()
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Mail ")]
    assert "  " not in line
    assert line.startswith("Mail (no Message-ID, no subject) failed via global: ")


def test_outbox_texts_are_in_the_readers_language(client):
    row = MailLog.objects.create(status=MailLog.Status.QUEUED, scope="global",
                                 transport="smtp", subject="Faktura")
    assert cancel(MailLog.objects.all()) == 1
    row.refresh_from_db()
    assert row.error == "Cancelled from the mail log before it was sent."
    assert "Anulowano z dziennika poczty przed wysłaniem." in page(client, row, "pl")
    # A message whose confirmation never came: the sentence and its cause, both translated.
    lost = {"msgid": LOST_AFTER_DATA, "cause": problem_record(ServerTimeout("message", 5))}
    with translation.override("pl"):
        text = render_problem(lost)
    assert text.startswith("Połączenie zerwało się po wysłaniu wiadomości")
    assert "(Serwer nie odpowiedział na czas: jego odpowiedź (message)" in text


def test_our_own_reasons_are_in_the_readers_language(global_config, client):
    # EmailMessage.send() skips it; Django's backend would drop it silently: we log why.
    assert symfonia_mail.mailer().send_messages([EmailMessage("Faktura", "Treść")]) == 0
    row = MailLog.objects.get()
    assert row.error == "The message has no recipients."
    assert "Wiadomość nie ma odbiorców." in page(client, row, "pl")
    assert "The message has no recipients." in page(client, row, "en")
