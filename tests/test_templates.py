"""Templates: resolution per scope, built-in files, HTML, the form rules and the preview."""

import datetime
import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import RequestFactory
from django.utils import translation

from symfonia_mail.admin.forms import MessageTemplateForm, template_warnings
from symfonia_mail.admin.views import template_preview
from symfonia_mail.config import resolver
from symfonia_mail.content.htmltext import html_to_text
from symfonia_mail.content.templated import (
    BUILTIN_KEYS,
    MAX_HTML_BYTES,
    TemplateNotFoundError,
    is_html,
    preview,
    render,
    render_default,
)
from symfonia_mail.models import GlobalMailConfig, MessageTemplate, UserMailConfig

# --- <html detection --------------------------------------------------------------


@pytest.mark.parametrize("body", [
    "<html><body>x</body></html>",
    "  \n\t<HTML lang='pl'>x</HTML>",
    "<!DOCTYPE html>\n<html>x</html>",
    "<html",
])
def test_bodies_starting_with_html_are_html(body):
    assert is_html(body)


@pytest.mark.parametrize("body", [
    "", "Dzień dobry", "<p>Dzień dobry</p>", "Text then <html>x</html>", "<htm>",
    "<!-- c --><html>",
])
def test_other_bodies_are_plain_text(body):
    assert not is_html(body)


# --- HTML -> text ---------------------------------------------------------------------


def test_text_alternative_keeps_links_and_drops_tags():
    html = (
        "<html><head><title>Tytuł</title><style>p {color: red}</style></head><body>"
        "<h1>Faktura {numer}</h1><p>Zapłać <a href='https://pay.example/1'>online</a> "
        "lub napisz: <a href='mailto:biuro@firma.example'>biuro@firma.example</a>.</p>"
        "<p><a href='https://firma.example'>https://firma.example</a></p>"
        "<ul><li>jeden</li><li>dwa &amp; <b>trzy</b></li></ul>"
        "<script>alert('x')</script></body></html>"
    )
    text = html_to_text(html)
    assert text == (
        "Faktura {numer}\n\n"
        "Zapłać online (https://pay.example/1) lub napisz: biuro@firma.example.\n\n"
        "https://firma.example\n\n"
        "- jeden\n- dwa & trzy\n"
    )
    assert "<" not in text and "color" not in text and "alert" not in text


def test_text_alternative_of_a_table_and_line_breaks():
    text = html_to_text("<table><tr><th>Nr</th><th>Kwota</th></tr>"
                        "<tr><td>FV/1</td><td>10,00</td></tr></table><p>a<br>b</p>")
    assert text == "Nr | Kwota\nFV/1 | 10,00\n\na\nb\n"


# --- the form: 32 KB, warnings ----------------------------------------------------------


def html_of_size(size):
    head, tail = "<html><body>", "</body></html>"
    filler = size - len(head) - len(tail)
    return head + "x" * filler + tail


def form(body, subject="Faktura {numer}", key="invoice"):
    return MessageTemplateForm(data={"key": key, "owner": "", "subject": subject, "body": body})


@pytest.mark.django_db
def test_html_body_of_exactly_32768_bytes_is_accepted():
    body = html_of_size(MAX_HTML_BYTES)
    assert len(body.encode()) == 32_768
    assert form(body).is_valid()


@pytest.mark.django_db
def test_html_body_of_32769_bytes_is_refused_with_size_and_limit():
    with translation.override("en"):
        f = form(html_of_size(MAX_HTML_BYTES + 1))
        assert not f.is_valid()
        [error] = f.errors["body"]
    assert "32,769 bytes" in error and "at most 32,768 bytes" in error
    with translation.override("pl"):
        f = form(html_of_size(MAX_HTML_BYTES + 1))
        assert not f.is_valid()
        assert "32\xa0769" in f.errors["body"][0]


@pytest.mark.django_db
def test_html_limit_counts_utf8_bytes_not_characters():
    # 16,380 × "ą" is 32,760 bytes but only 16,380 characters.
    body = "<html>" + "ą" * 16_380 + "</html>"
    assert len(body) < MAX_HTML_BYTES < len(body.encode())
    assert not form(body).is_valid()


@pytest.mark.django_db
def test_the_limit_is_for_html_only():
    assert form("Dzień dobry\n" * 4000).is_valid()


@pytest.mark.django_db
def test_browser_line_ends_are_stored_as_lf():
    f = form("a\r\nb")
    assert f.is_valid() and f.cleaned_data["body"] == "a\nb"


@pytest.mark.django_db
def test_unknown_macro_is_a_warning_listing_valid_macros_and_does_not_block():
    f = form("Dzień dobry {kontrahnet}", subject="Faktura {numr}")
    with translation.override("en"):
        assert f.is_valid()
        subject_warning, body_warning = f.warnings
    assert "{numr}" in subject_warning and "{numer}" in subject_warning
    assert "{kontrahnet}" in body_warning and "did you mean {kontrahent}" in body_warning
    assert "{z dnia}" in body_warning and "{wystawiający}" in body_warning  # the list


@pytest.mark.django_db
def test_html_without_closing_tag_is_a_warning_not_an_error():
    f = form("<html><body>Faktura {numer}")
    assert f.is_valid()
    with translation.override("en"):
        assert any("</html>" in w for w in f.warnings)


@pytest.mark.django_db
def test_a_clean_template_has_no_warnings():
    f = form("<html><style>p {color: red}</style><p>{numer} {z dnia}</p></html>")
    assert f.is_valid() and f.warnings == []


def test_warnings_helper_ignores_css_and_json():
    assert template_warnings("{numer}", '{"a": 1} p {margin: 0}') == []


# --- resolution per scope ---------------------------------------------------------------


@pytest.fixture
def users(db):
    GlobalMailConfig.objects.update_or_create(
        pk=1, defaults={"company_name": "Firma Globalna", "sender_name": "Biuro"})
    anna = User.objects.create_user("anna", first_name="Anna", last_name="Nowak")
    bob = User.objects.create_user("bob", first_name="Bob", last_name="Lis")
    carol = User.objects.create_user("carol")
    UserMailConfig.objects.create(user=anna, scope="individual", sender_name="Anna N.")
    # Bob had individual settings and templates, then switched back to the global scope.
    UserMailConfig.objects.create(user=bob, scope="global", sender_name="Bob L.")
    MessageTemplate.objects.create(key="invoice", owner=None, subject="Global {numer}",
                                   body="global body")
    MessageTemplate.objects.create(key="invoice", owner=anna, subject="Anna {numer}",
                                   body="anna body")
    MessageTemplate.objects.create(key="invoice", owner=bob, subject="Bob {numer}",
                                   body="bob body")
    return {"anna": anna, "bob": bob, "carol": carol}


def test_individual_user_gets_their_own_template(users):
    rendered = render("invoice", users["anna"])
    assert (rendered.subject, rendered.text, rendered.source) == (
        "Anna {numer}", "anna body", "user")


def test_user_without_individual_scope_gets_the_global_template(users):
    assert render("invoice", users["carol"]).subject == "Global {numer}"
    assert render("invoice", None).subject == "Global {numer}"


def test_user_who_switched_back_to_global_gets_global_and_keeps_their_own(users):
    assert render("invoice", users["bob"]).source == "global"
    assert MessageTemplate.objects.filter(owner=users["bob"]).exists()
    config = users["bob"].mail_config
    config.scope = "individual"
    config.save()  # the revision changes: no restart, no stale cache
    assert render("invoice", users["bob"]).subject == "Bob {numer}"


def test_individual_user_without_own_template_gets_the_global_one(users):
    MessageTemplate.objects.filter(owner=users["anna"]).delete()
    assert render("invoice", users["anna"]).subject == "Global {numer}"


def test_no_stored_template_gives_the_built_in_default(users):
    MessageTemplate.objects.filter(key="invoice", owner__isnull=True).delete()
    rendered = render("invoice", users["carol"])
    assert rendered.source == "default" and rendered.subject.startswith("Faktura {numer}")
    assert rendered.html.startswith("<html") and "Szanowni Państwo" in rendered.text


def test_unknown_key_says_how_to_add_it(db):
    with pytest.raises(TemplateNotFoundError, match="MessageTemplate with that key"):
        render("no_such_key", None)


def test_templates_are_loaded_once_per_revision(users, django_assert_num_queries):
    session = resolver.Session()
    render("invoice", users["anna"], session=session)  # config + template
    with django_assert_num_queries(0):
        for _ in range(50):
            render("invoice", users["anna"], session=session)
    with django_assert_num_queries(1):  # the revision token, nothing else
        render("invoice", users["anna"])


def test_a_saved_template_is_seen_by_the_next_session(users):
    assert render("invoice", None).subject == "Global {numer}"
    MessageTemplate.objects.filter(owner__isnull=True).update(subject="Changed {numer}")
    resolver.bump_revision()  # bulk update sends no signal; save() does this itself
    assert render("invoice", None).subject == "Changed {numer}"


def test_stored_text_is_never_rendered_as_a_django_template(users):
    MessageTemplate.objects.filter(owner__isnull=True).update(
        body="{{ 7|add:1 }} {% now 'Y' %} {numer}")
    resolver.bump_revision()
    assert render("invoice", None).text == "{{ 7|add:1 }} {% now 'Y' %} {numer}"


def test_stored_html_template_gets_a_derived_text_part(users):
    MessageTemplate.objects.filter(owner__isnull=True).update(
        body="<html><body><p>Faktura <a href='https://x.example/{numer}'>{numer}</a></p>"
             "</body></html>")
    resolver.bump_revision()
    rendered = render("invoice", None)
    assert rendered.html.startswith("<html")
    assert rendered.text == "Faktura {numer} (https://x.example/{numer})\n"


# --- built-in files ---------------------------------------------------------------------


@pytest.mark.parametrize("key", BUILTIN_KEYS)
@pytest.mark.parametrize("language", ["pl", "en"])
def test_every_built_in_key_renders_subject_text_and_html(key, language):
    rendered = render_default(key, language=language, values={"wysyłający": "Jan Kowalski"})
    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.html.startswith("<html") and rendered.html.rstrip().endswith("</html>")
    assert "{wysyłający}" in rendered.text and "<" not in rendered.text
    assert template_warnings(rendered.subject, rendered.html) == []
    assert template_warnings("", rendered.text) == []


def test_defaults_are_polish_and_english_when_english_is_active():
    assert render_default("invoice").subject.startswith("Faktura")
    with translation.override("en"):
        assert render_default("invoice").subject.startswith("Invoice")
    assert render_default("invoice", language="en-gb").subject.startswith("Invoice")
    assert 'lang="en"' in render_default("invoice", language="en").html


def test_text_files_are_not_html_escaped_but_html_files_are():
    documents = [{"number": "FV/1 <&>", "issue_date": datetime.date(2026, 1, 2),
                  "due_date": datetime.date(2026, 1, 16), "amount": Decimal("100"),
                  "outstanding": Decimal("100"), "currency": "PLN", "days_overdue": 1}]
    rendered = render_default("payment_reminder", context={"documents": documents})
    assert "FV/1 <&>" in rendered.text
    assert "FV/1 &lt;&amp;&gt;" in rendered.html


class Invoice:
    """A document as the sales app has it: attributes, not keys."""

    def __init__(self, number, outstanding, currency="PLN", days=10):
        self.number = number
        self.issue_date = datetime.date(2026, 9, 1)
        self.due_date = datetime.date(2026, 9, 15)
        self.amount = Decimal("1234.50")
        self.outstanding = Decimal(outstanding)
        self.currency = currency
        self.days_overdue = days


def test_payment_reminder_lists_the_documents_in_html_and_text():
    documents = [Invoice("FV/7/2026", "1234.50", days=1), Invoice("FV/8/2026", "100.25"),
                 Invoice("FV/9/2026", "50", currency="EUR")]
    with translation.override("pl"):
        rendered = render_default("payment_reminder", context={"documents": documents},
                                  values={"kontrahent": "ACME"})
    html, text = rendered.html, rendered.text
    assert html.count("<tr>") == 1 + 3 + 1  # header, documents, totals
    for cell in ("<td>FV/7/2026</td>", "<td>01-09-2026</td>", "<td>15-09-2026</td>",
                 "1\xa0234,50 PLN", "<td class=\"amount\">10</td>", "50,00 EUR"):
        assert cell in html
    assert "- FV/7/2026 z dnia 01-09-2026, termin płatności 15-09-2026 (1 dzień po terminie)" \
        in text
    assert "(10 dni po terminie)" in text
    assert "pozostaje do zapłaty: 100,25 PLN" in text
    assert "Łącznie do zapłaty: 1\xa0334,75 PLN, 50,00 EUR" in text


def test_payment_reminder_without_documents_uses_numery():
    rendered = render_default("payment_reminder")
    assert "dokumentów: {numery}." in rendered.text and "<table" not in rendered.html


def test_host_project_template_directory_overrides_a_built_in_default(tmp_path, settings):
    folder = tmp_path / "symfonia_mail" / "messages" / "invoice"
    folder.mkdir(parents=True)
    (folder / "subject.txt").write_text("Nasza faktura {numer} & {{ extra }}")
    (folder / "body.html").write_text("")  # empty: no HTML part for this key
    (folder / "body.txt").write_text("Treść od integratora: {{ extra }}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    rendered = render_default("invoice", context={"extra": "A & B"})
    assert rendered.subject == "Nasza faktura {numer} & A & B"
    assert rendered.text == "Treść od integratora: A & B\n" and rendered.html == ""
    # Keys the host did not override keep the built-in files.
    assert render_default("contract").subject.startswith("Umowa {umowa}")


# --- preview ------------------------------------------------------------------------------


def test_preview_of_form_data_uses_sample_values_and_the_users_configuration(users):
    subject, text, html = preview(
        {"key": "invoice", "subject": "Faktura {numer} z dnia {z dnia}",
         "body": "<html><p>{kontrahent}, {firma}, {wysyłający}, {numery}</p></html>"},
        users["anna"])
    assert subject == "Faktura FV/12/2026 z dnia 02-11-2026"
    # An invoice never fills {numery}: the preview leaves it as written (issue 12).
    assert html == "<html><p>ACME sp. z o.o., Firma Globalna, Anna Nowak, {numery}</p></html>"
    assert text == "ACME sp. z o.o., Firma Globalna, Anna Nowak, {numery}\n"


def test_preview_of_plain_text_has_no_html(users):
    subject, text, html = preview({"subject": "{umowa}", "body": "od {data od} do {data do}"},
                                  users["carol"])
    assert (subject, text, html) == ("UM/3/2026", "od 01-01-2026 do 31-12-2026", "")


def test_preview_of_a_key_shows_what_would_be_sent(users):
    subject, text, html = preview("invoice", users["anna"])
    assert subject == "Anna FV/12/2026" and text == "anna body"
    subject, text, html = preview({"key": "payment_reminder"}, users["carol"], language="en")
    assert subject.startswith("Overdue payment reminder: FV/10/2026, FV/11/2026")
    assert "<td>FV/10/2026</td>" in html and "Firma Globalna" in text


def test_preview_of_a_stored_template_object(users):
    template = MessageTemplate(key="x", subject="{numer}", body="{wystawiający}")
    assert preview(template, users["anna"]) == ("FV/12/2026", "Anna Nowak", "")


def test_preview_escapes_sample_values_in_html(users):
    GlobalMailConfig.objects.filter(pk=1).update(company_name="Kowalski & Syn <sp.j.>")
    resolver.bump_revision()
    _s, _t, html = preview({"subject": "x", "body": "<html>{firma}</html>"}, users["carol"])
    assert html == "<html>Kowalski &amp; Syn &lt;sp.j.&gt;</html>"


# --- preview view -------------------------------------------------------------------------


@pytest.fixture
def staff(db):
    return User.objects.create_user("admin", is_staff=True, first_name="Ala", last_name="Kot")


def post(user, data, **headers):
    from django.contrib.sessions.middleware import SessionMiddleware

    request = RequestFactory().post("/preview/", data, headers=headers)
    request.user = user
    SessionMiddleware(lambda request: None).process_request(request)  # the HTML part's frame
    return template_preview(request)


def test_preview_view_is_post_only(staff):
    request = RequestFactory().get("/preview/")
    request.user = staff
    assert template_preview(request).status_code == 405


def test_preview_view_refuses_non_staff(db):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        post(User.objects.create_user("clerk"), {"subject": "x", "body": "y"})


def test_preview_view_shows_html_in_a_sandboxed_frame(staff):
    response = post(staff, {"subject": "Faktura {numer}",
                            "body": "<html><script>alert(1)</script><p>{wysyłający}</p>"})
    response.render()
    page = response.content.decode()
    assert response.status_code == 200
    assert "Faktura FV/12/2026" in page
    assert '<iframe id="preview-html" sandbox=""' in page
    assert "<script>alert" not in page  # in the frame's own document, not in this page
    assert "&lt;/html&gt;" in page  # the missing </html> warning is shown


def test_preview_view_answers_json_with_warnings(staff):
    response = post(staff, {"subject": "{numr}", "body": html_of_size(MAX_HTML_BYTES + 1)},
                    accept="application/json")
    data = json.loads(response.content)
    assert set(data) == {"subject", "text", "html", "warnings"}
    assert data["subject"] == "{numr}"
    assert any("32" in w and "768" in w for w in data["warnings"])
    assert any("{numr}" in w for w in data["warnings"])


@pytest.mark.django_db
def test_the_32_kb_rule_holds_outside_the_admin_too():
    """A shell or API save that calls full_clean() gets the same refusal as the form."""
    from django.core.exceptions import ValidationError

    from symfonia_mail.models import MessageTemplate
    from symfonia_mail.validators import MAX_HTML_BYTES

    head, tail = "<html><body>", "</body></html>"
    fits = head + "x" * (MAX_HTML_BYTES - len(head) - len(tail)) + tail
    MessageTemplate(key="invoice", subject="s", body=fits).full_clean()
    with pytest.raises(ValidationError) as caught:
        MessageTemplate(key="invoice", subject="s", body=fits.replace("x", "xx", 1)).full_clean()
    assert caught.value.error_dict["body"][0].code == "html_too_long"
