"""send_templated / build_templated, end to end on the loopback SMTP server."""

import datetime

import pytest
from django.contrib.auth.models import User
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.utils import translation

import symfonia_mail
from symfonia_mail import mail_context
from symfonia_mail.config import resolver
from symfonia_mail.content.templated import SAMPLE_DOCUMENTS, build_templated
from symfonia_mail.models import MessageTemplate, UserMailConfig

from .conftest import config_values

pytestmark = pytest.mark.django_db

MACROS = {"numer": "FV/12/2026", "z_dnia": datetime.date(2026, 11, 2),
          "kontrahent": "Kowalski & Syn <sp.j.>"}


def parts(received):
    """Return (text/plain, text/html or None) of a received message, with LF line ends."""
    message = received.message
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    return content(plain), content(html) if html is not None else None


def content(part):
    return part.get_content().replace("\r\n", "\n")


def subject(received):
    # Django folds a long encoded subject as "Subject: \r\n =?utf-8?q?...": the
    # email package then keeps the fold's leading space, mail clients drop it.
    return str(received.message["Subject"]).strip()


# --- end to end -------------------------------------------------------------------------


def test_built_in_invoice_arrives_with_subject_both_parts_and_macros(global_config, smtp_server):
    sent = symfonia_mail.send_templated(
        "invoice", to=["klient@example.com"], macros=MACROS,
        attachments=[("FV_12_2026.txt", "treść faktury", "text/plain")],
    )
    assert sent == 1
    [received] = smtp_server.messages
    message = received.message
    assert subject(received) == (
        "Faktura FV/12/2026 z dnia 02-11-2026 – Firma Testowa sp. z o.o.")
    assert message["From"] == "Biuro Firma <biuro@firma.example>"
    assert message.get_content_type() == "multipart/mixed"
    [alternative] = [p for p in message.iter_parts() if p.is_multipart()]
    assert alternative.get_content_type() == "multipart/alternative"
    text, html = parts(received)
    # Plain text: values as they are; no tags, no entities.
    assert "fakturę FV/12/2026 z dnia 02-11-2026 (nabywca: Kowalski & Syn <sp.j.>)." in text
    assert "Biuro Firma\nFirma Testowa sp. z o.o." in text  # {wysyłający} falls back, {firma}
    assert "{" not in text and "&amp;" not in text
    # HTML: values escaped, CSS braces of the template untouched.
    assert "<strong>FV/12/2026</strong> z dnia 02-11-2026" in html
    assert "(nabywca: Kowalski &amp; Syn &lt;sp.j.&gt;)" in html
    assert "body {font-family:" in html
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "FV_12_2026.txt"


def test_stored_global_html_template_is_sent_as_multipart_alternative(global_config, smtp_server):
    MessageTemplate.objects.create(
        key="invoice", subject="Faktura {numer} dla {kontrahent}",
        body="<html><head><style>p {color: navy}</style></head><body>"
             "<p>Faktura {numer}: <a href=\"https://firma.example/f/{numer}\">pobierz</a></p>"
             "<p>{kontrahent}</p><p>{wysyłający}</p></body></html>",
    )
    symfonia_mail.send_templated("invoice", to=["klient@example.com"], macros=MACROS)
    [received] = smtp_server.messages
    assert received.message.get_content_type() == "multipart/alternative"
    assert subject(received) == "Faktura FV/12/2026 dla Kowalski & Syn <sp.j.>"
    text, html = parts(received)
    assert text == (
        "Faktura FV/12/2026: pobierz (https://firma.example/f/FV/12/2026)\n\n"
        "Kowalski & Syn <sp.j.>\n\nBiuro Firma\n"
    )
    assert "<style>p {color: navy}</style>" in html
    assert "<p>Kowalski &amp; Syn &lt;sp.j.&gt;</p>" in html


def test_stored_plain_template_is_a_single_text_part(global_config, smtp_server):
    MessageTemplate.objects.create(key="contract", subject="Umowa {umowa}",
                                   body="Umowa {umowa} od {data od} do {data do}. {foo} {x: 1}")
    symfonia_mail.send_templated("contract", to=["k@example.com"], macros={
        "umowa": "UM/1", "data_od": datetime.date(2026, 1, 1), "data do": None})
    [received] = smtp_server.messages
    assert received.message.get_content_type() == "text/plain"
    assert subject(received) == "Umowa UM/1"
    assert content(received.message) == "Umowa UM/1 od 01-01-2026 do . {foo} {x: 1}\n"


@pytest.fixture
def anna(db, make_smtp_server):
    """A user with an individual configuration on her own server, and her own template."""
    server = make_smtp_server(tls="starttls", users={"anna": "anna-Pa55"})
    user = User.objects.create_user("anna", first_name="Anna", last_name="Nowak")
    UserMailConfig.objects.create(
        user=user, scope="individual",
        **config_values(server, sender_email="anna@firma.example", sender_name="Anna N."))
    MessageTemplate.objects.create(key="invoice", owner=user, subject="Od Anny: {numer}",
                                   body="{wysyłający} z {firma} przesyła {numer}.")
    user.server = server
    return user


def test_user_gets_own_template_own_server_and_own_name(global_config, smtp_server, anna):
    MessageTemplate.objects.create(key="invoice", subject="Global", body="global")
    symfonia_mail.send_templated("invoice", to=["k@example.com"], user=anna, macros=MACROS)
    assert smtp_server.messages == []
    [received] = anna.server.messages
    assert received.mail_from == "anna@firma.example"
    assert subject(received) == "Od Anny: FV/12/2026"
    assert content(received.message) == (
        "Anna Nowak z Firma Testowa sp. z o.o. przesyła FV/12/2026.\n")


def test_user_from_mail_context_is_used(global_config, smtp_server, anna):
    with mail_context(user=anna, numer="FV/1"):
        symfonia_mail.send_templated("invoice", to=["k@example.com"])
    assert subject(anna.server.messages[0]) == "Od Anny: FV/1"


def test_innermost_macro_value_wins(global_config, smtp_server):
    MessageTemplate.objects.create(key="invoice", subject="{numer} {umowa} {wysyłający}",
                                   body="-")
    with mail_context(numer="outer", umowa="U/outer", wysylajacy="Kontekst"):
        with mail_context(numer="inner"):
            symfonia_mail.send_templated("invoice", to=["k@example.com"],
                                         macros={"wysyłający": "Wywołanie"})
    assert subject(smtp_server.messages[0]) == "inner U/outer Wywołanie"


def test_language_selects_english_files_and_date_format(global_config, smtp_server):
    symfonia_mail.send_templated("invoice", to=["k@example.com"], macros=MACROS, language="en")
    [received] = smtp_server.messages
    assert subject(received) == (
        "Invoice FV/12/2026 of 11/02/2026 – Firma Testowa sp. z o.o.")
    text, html = parts(received)
    assert "Dear Sir or Madam" in text and 'lang="en"' in html
    assert translation.get_language() == "pl"


def test_payment_reminder_with_documents_end_to_end(global_config, smtp_server):
    symfonia_mail.send_templated(
        "payment_reminder", to=["k@example.com"],
        macros={"numery": [d["number"] for d in SAMPLE_DOCUMENTS], "kontrahent": "ACME"},
        context={"documents": SAMPLE_DOCUMENTS, "contractor": object()},
    )
    [received] = smtp_server.messages
    assert subject(received) == (
        "Przypomnienie o zaległej płatności: FV/10/2026, FV/11/2026 – Firma Testowa sp. z o.o.")
    text, html = parts(received)
    assert "- FV/11/2026 z dnia 20-10-2026, termin płatności 03-11-2026" in text
    assert "Łącznie do zapłaty: 1\xa0530,00 PLN" in text
    assert "<td>FV/11/2026</td><td>20-10-2026</td><td>03-11-2026</td>" in html


# --- build_templated ------------------------------------------------------------------------


def test_build_returns_an_unsent_message_with_macros_user_and_attachments(
        global_config, smtp_server, tmp_path, anna):
    pdf = tmp_path / "FV.pdf"
    pdf.write_bytes(b"%PDF-1.4 test")
    message = build_templated("contract", ["k@example.com"], user=anna, cc=["cc@example.com"],
                              macros={"umowa": "UM/9", "data_od": datetime.date(2026, 3, 1)},
                              attachments=[pdf, ("a.txt", "x", "text/plain")],
                              reply_to=["reply@example.com"])
    assert type(message) is EmailMultiAlternatives
    assert message.user == anna and message.template_key == "contract"
    assert message.macros == {"umowa": "UM/9", "data od": "01-03-2026"}
    assert message.cc == ["cc@example.com"] and message.reply_to == ["reply@example.com"]
    assert [a[0] for a in message.attachments] == ["FV.pdf", "a.txt"]
    assert smtp_server.messages == [] and anna.server.messages == []


def test_build_of_a_plain_stored_template_is_a_plain_message(global_config):
    MessageTemplate.objects.create(key="test", subject="T", body="plain")
    assert type(build_templated("test", ["k@example.com"])) is EmailMessage


def test_many_messages_over_one_connection_cost_no_query_per_message(
        global_config, smtp_server, django_assert_max_num_queries):
    MessageTemplate.objects.create(key="payment_reminder", subject="Przypomnienie {numery}",
                                   body="{kontrahent}: {numery}")
    resolver.clear_cache()
    with get_connection() as connection:
        first = build_templated("payment_reminder", ["k0@example.com"], connection=connection,
                                macros={"numery": ["FV/0"], "kontrahent": "K0"})
        with django_assert_max_num_queries(0):
            messages = [first, *(
                build_templated("payment_reminder", [f"k{i}@example.com"],
                                connection=connection,
                                macros={"numery": [f"FV/{i}"], "kontrahent": f"K{i}"})
                for i in range(1, 30))]
        assert connection.send_messages(messages) == 30
    received = smtp_server.messages
    assert len(received) == 30
    assert subject(received[7]) == "Przypomnienie FV/7"
    assert content(received[7].message) == "K7: FV/7\n"
