"""Issue 12 (4) and (7): message kinds, unfilled macros fail closed, the key is a kind."""

import datetime
import re
import smtplib

import pytest
from django.core import checks
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, send_mail
from django.urls import reverse
from django.utils import translation
from django.utils.html import strip_tags

import symfonia_mail
from symfonia_mail import kinds
from symfonia_mail.admin.forms import MessageTemplateForm
from symfonia_mail.content.templated import BUILTIN_KEYS, render_default, send_templated
from symfonia_mail.exceptions import UnfilledMacro
from symfonia_mail.models import MailLog, MessageTemplate
from symfonia_mail.reminders import Status, send_reminders
from symfonia_mail.validators import validate_template_key

from .test_admin import make_staff
from .test_reminders import contractor, doc

pytestmark = pytest.mark.django_db

PREVIEW_URL = reverse("admin:symfonia_mail_messagetemplate_preview")
TEMPLATE_ADD_URL = reverse("admin:symfonia_mail_messagetemplate_add")


@pytest.fixture
def boss(db):
    return make_staff("boss", superuser=True)


@pytest.fixture
def host_kind():
    kind = kinds.register("offer", label="Offer", description="An offer.",
                          macros=["numer", "z_dnia"])
    yield kind
    kinds.unregister("offer")


# --- the registry --------------------------------------------------------------------------


def test_the_built_in_kinds_say_what_they_fill():
    assert [kind.key for kind in kinds.all_kinds()][:4] == list(BUILTIN_KEYS)
    assert "umowa" not in kinds.get("payment_reminder").fills
    assert {"numer", "numery", "z dnia", "kontrahent"} <= kinds.get("payment_reminder").fills
    assert {"umowa", "data od", "data do"} <= kinds.get("contract").fills
    for kind in kinds.all_kinds():
        assert {"firma", "wysyłający", "wystawiający"} <= kind.fills  # documented defaults


def test_a_host_project_registers_its_own_kind(host_kind):
    assert kinds.get("offer").macros == ("numer", "z dnia")  # ASCII alias accepted
    assert kinds.get("offer").unfilled("{numer} {umowa} {firma}") == ["umowa"]
    with pytest.raises(ValueError, match="numr"):
        kinds.register("bad", label="Bad", macros=["numr"])


# --- send time: a known macro without a value fails the message ------------------------------


def test_plain_send_mail_with_an_unfilled_macro_fails_and_is_logged(global_config,
                                                                    smtp_server):
    with pytest.raises(UnfilledMacro) as caught:
        send_mail("Faktura {numer}", "Umowa {umowa}", None, ["klient@example.com"])
    assert isinstance(caught.value, smtplib.SMTPException)
    assert caught.value.macros == ["numer"] or set(caught.value.macros) <= {"numer", "umowa"}
    assert "{numer}" in str(caught.value)
    assert smtp_server.messages == []
    row = MailLog.objects.get()
    assert row.status == "failed" and "{numer}" in row.error


def test_fail_silently_silences_it_like_a_delivery_error(global_config, smtp_server):
    assert send_mail("Umowa {umowa}", "B", None, ["k@example.com"], fail_silently=True) == 0
    assert smtp_server.messages == []
    assert "{umowa}" in MailLog.objects.get().error


def test_an_unfilled_macro_in_the_html_part_fails_too(global_config, smtp_server):
    from django.core.mail import EmailMultiAlternatives

    message = EmailMultiAlternatives("Faktura", "tekst", to=["k@example.com"])
    message.attach_alternative("<p>{data do}</p>", "text/html")
    with pytest.raises(UnfilledMacro, match=r"\{data do\}"):
        message.send()


def test_documented_defaults_keep_working(global_config, smtp_server):
    global_config.sender_name = "Biuro Firma"
    global_config.save()
    with symfonia_mail.mail_context(numer="FV/1/2026"):
        sent = send_mail("Faktura {numer} – {firma}",
                         "Wysłał: {wysyłający}\nWystawił: {wystawiający}.", None,
                         ["k@example.com"])
    assert sent == 1
    (received,) = smtp_server.messages
    assert received.message["Subject"].strip() == "Faktura FV/1/2026 – Firma Testowa sp. z o.o."
    body = received.message.get_content()
    assert "Wysłał: Biuro Firma" in body and "{" not in body


def test_message_macros_fill_what_the_text_uses(global_config, smtp_server):
    message = EmailMessage("Umowa {umowa}", "od {data od} do {data do}", to=["k@example.com"])
    message.macros = {"umowa": "UM/1", "data_od": datetime.date(2026, 1, 1),
                      "data do": datetime.date(2026, 12, 31)}
    assert message.send() == 1


def test_a_stored_reminder_template_with_a_contract_macro_fails_closed(global_config,
                                                                       smtp_server):
    MessageTemplate.objects.create(key="payment_reminder", subject="Przypomnienie {numery}",
                                   body="Umowa {umowa} z dnia {z dnia}.\nWystawił: "
                                        "{wystawiający}")
    with translation.override("pl"):
        (result,) = send_reminders([contractor("ACME", ["k@acme.example"], doc("FV/1"))],
                                   as_of=datetime.date(2026, 11, 26))
    assert result.status == Status.FAILED and "{umowa}" in result.reason
    # The reason is for the person running it (issue 19 item 12): in their language.
    assert result.reason.startswith("Wiadomość używa makra {umowa}")
    assert smtp_server.messages == []


def test_a_reminder_for_several_documents_fills_numer_and_z_dnia(global_config, smtp_server):
    MessageTemplate.objects.create(key="payment_reminder", subject="Przypomnienie {numer}",
                                   body="Dokumenty {numery} z dnia {z dnia} dla {kontrahent}.")
    (result,) = send_reminders(
        [contractor("ACME", ["k@acme.example"], doc("FV/1", due_days_ago=10),
                    doc("FV/2", due_days_ago=20))],
        as_of=datetime.date(2026, 11, 26))
    assert result.status == Status.SENT, result.reason
    (received,) = smtp_server.messages
    assert received.message["Subject"].strip() == "Przypomnienie FV/1, FV/2"
    body = received.message.get_body(("plain",)).get_content()
    assert "{" not in body and "z dnia 02-11-2026, 23-10-2026 dla ACME" in body, body


def test_send_templated_with_a_missing_macro_fails(global_config, smtp_server):
    with pytest.raises(UnfilledMacro, match=r"\{numer\}"):
        send_templated("invoice", to=["k@example.com"], macros={"kontrahent": "ACME"})
    assert smtp_server.messages == []


# Lines that are a label with nothing after it ("Wystawił: .", "Nadawca:").
_DANGLING = re.compile(r"^\s*[^\W\d][\w()]*(?: [\w()]+){0,3}:\s*\.?\s*$", re.MULTILINE)


@pytest.mark.parametrize("key", BUILTIN_KEYS)
@pytest.mark.parametrize("language", ["pl", "en"])
def test_built_in_templates_leave_no_dangling_label_when_defaults_are_empty(key, language):
    empty = {"firma": "", "wysyłający": "", "wystawiający": ""}
    values = {name: "X" for name in kinds.get(key).macros} | empty
    rendered = render_default(key, values=values, language=language)
    for text in (rendered.text, strip_tags(rendered.html)):
        assert not _DANGLING.search(text), (key, language, text)


# --- (7) the template key is a registered kind ------------------------------------------------


def test_the_key_is_a_choice_of_kinds_and_a_typo_is_refused():
    form = MessageTemplateForm(data={"key": "faktura", "subject": "S", "body": "B"})
    assert not form.is_valid() and "key" in form.errors
    choices = dict(form.fields["key"].choices)
    assert {"test", "invoice", "payment_reminder", "contract"} <= set(choices)
    help_text = str(form.fields["key"].help_text)
    assert "payment_reminder" in help_text and "{numery}" in help_text
    assert MessageTemplateForm(data={"key": "invoice", "subject": "S", "body": "B"}).is_valid()


def test_a_host_kind_is_offered(host_kind):
    form = MessageTemplateForm(data={"key": "offer", "subject": "Oferta {numer}", "body": "B"})
    assert form.is_valid(), form.errors


def test_the_model_refuses_a_key_no_kind_uses(host_kind):
    """Issue 19 item 8: enforced at the model (full_clean), not only by the admin form."""
    with pytest.raises(ValidationError) as caught:
        MessageTemplate(key="nope", subject="S", body="B").full_clean()
    [error] = caught.value.error_dict["key"]
    assert error.code == "unknown_kind"
    with translation.override("en"):
        assert "invoice" in " ".join(caught.value.messages)  # says what to choose
        assert "offer" in " ".join(caught.value.messages)  # the host's kinds too
    MessageTemplate(key="offer", subject="S", body="B").full_clean()
    field = MessageTemplate._meta.get_field("key")
    assert validate_template_key in field.validators


def test_a_stored_template_with_an_unknown_key_is_kept_and_listed_by_a_check():
    stored = MessageTemplate.objects.create(key="faktura", subject="S", body="B")
    form = MessageTemplateForm(instance=stored)
    assert "faktura" in dict(form.fields["key"].choices)  # shown as it is stored
    # Saving it again asks for a kind (the form inherits the model's validator) ...
    bound = MessageTemplateForm(instance=stored, data={"key": "faktura", "subject": "S2",
                                                       "body": "B"})
    assert not bound.is_valid()
    assert bound.errors.as_data()["key"][0].code == "unknown_kind"
    # ... while the stored row stays as it was until someone picks one.
    stored.refresh_from_db()
    assert (stored.key, stored.subject) == ("faktura", "S")
    problems = checks.run_checks(databases=["default"])
    warnings = [p for p in problems if p.id == "symfonia_mail.W002"]
    assert len(warnings) == 1 and warnings[0].obj == stored
    assert warnings[0].level == checks.WARNING and "faktura" in warnings[0].msg
    assert MessageTemplate.objects.filter(pk=stored.pk).exists()


def test_the_form_warns_about_macros_the_kind_cannot_fill():
    form = MessageTemplateForm(data={"key": "payment_reminder", "subject": "Przypomnienie",
                                     "body": "Umowa {umowa} od {data od}"})
    assert form.is_valid()
    with translation.override("en"):
        text = " ".join(form.warnings)
    assert "{umowa}" in " ".join(form.warnings) and "{data od}" in " ".join(form.warnings)
    assert "{numery}" in text  # says what the kind does fill


def test_preview_warns_and_leaves_the_unfillable_macro_visible(client, boss):
    client.force_login(boss)
    response = client.post(PREVIEW_URL, {"key": "payment_reminder", "subject": "P {numery}",
                                         "body": "Umowa {umowa}"},
                           headers={"Accept": "application/json"})
    result = response.json()
    assert result["subject"] == "P FV/10/2026, FV/11/2026"
    assert result["text"].strip() == "Umowa {umowa}"
    assert any("{umowa}" in warning for warning in result["warnings"])


def test_saving_shows_the_kind_warning(client, boss):
    client.force_login(boss)
    response = client.post(TEMPLATE_ADD_URL, {"key": "payment_reminder", "subject": "S",
                                              "body": "Umowa {umowa}", "_save": "1"},
                           follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert any("{umowa}" in t for t in texts), texts
