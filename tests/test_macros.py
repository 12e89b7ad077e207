"""Macros: the ten Symfonia names, their ASCII aliases, formatting, escaping, defaults."""

import datetime
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import translation

from symfonia_mail import macros
from symfonia_mail.macros import MACROS, canonical, fill, format_value, message_values

CONFIG = SimpleNamespace(company_name="Firma Testowa sp. z o.o.", sender_name="Biuro Firma")


def person_from_profile(user):
    """A PERSON_NAME hook as a host project writes it (here: by username)."""
    return {"jan": "Jan Kowalski (księgowość)"}.get(user.username)


def user(username="jan", first="", last=""):
    return get_user_model()(username=username, first_name=first, last_name=last)


# --- each macro, both spellings -------------------------------------------------


@pytest.mark.parametrize(("name", "alias"), MACROS.items())
def test_each_macro_is_filled_under_its_symfonia_name(name, alias):
    assert fill(f"<{{{name}}}>", canonical({name: "VALUE"})) == "<VALUE>"


@pytest.mark.parametrize(("name", "alias"), MACROS.items())
def test_each_macro_is_filled_from_its_ascii_alias(name, alias):
    assert fill(f"<{{{name}}}>", canonical({alias: "VALUE"})) == "<VALUE>"


def test_there_are_exactly_the_ten_macros_of_symfonia():
    assert list(MACROS) == [
        "numer", "numery", "umowa", "z dnia", "kontrahent", "firma", "wysyłający",
        "data od", "data do", "wystawiający",
    ]


def test_symfonia_name_wins_over_alias_in_one_dict():
    assert canonical({"z_dnia": "alias", "z dnia": "name"}) == {"z dnia": "name"}


def test_unknown_keys_are_kept_for_templates():
    assert canonical({"documents": [1]}) == {"documents": [1]}


def test_ascii_alias_is_not_a_macro_in_text():
    # Aliases are for Python callers; a template must use the Symfonia name.
    assert fill("{z_dnia}", {"z dnia": "x"}) == "{z_dnia}"


def test_all_macros_in_one_text():
    text = "{numer} {numery} {umowa} {z dnia} {kontrahent} {firma} {wysyłający} {data od} " \
           "{data do} {wystawiający}"
    values = canonical({alias: alias.upper() for alias in MACROS.values()})
    assert fill(text, values) == (
        "NUMER NUMERY UMOWA Z_DNIA KONTRAHENT FIRMA WYSYLAJACY DATA_OD DATA_DO WYSTAWIAJACY"
    )


# --- formatting -------------------------------------------------------------------


@pytest.mark.parametrize(("language", "expected"), [("pl", "02-11-2026"), ("en", "11/02/2026")])
def test_dates_use_the_active_locale_short_format(language, expected):
    with translation.override(language):
        assert fill("{z dnia}", {"z dnia": datetime.date(2026, 11, 2)}) == expected


def test_datetime_is_shown_as_a_date():
    with translation.override("pl"):
        value = datetime.datetime(2026, 11, 2, 13, 45)
        assert format_value(value) == "02-11-2026"


def test_aware_datetime_is_shown_on_the_local_calendar():
    late_utc = datetime.datetime(2026, 11, 2, 23, 30, tzinfo=datetime.UTC)
    with translation.override("pl"):
        assert format_value(late_utc) == "03-11-2026"  # TIME_ZONE is Europe/Warsaw


def test_lists_are_joined_with_comma_and_space():
    assert fill("{numery}", {"numery": ["FV/1", "FV/2", "FV/3"]}) == "FV/1, FV/2, FV/3"


def test_list_of_dates_is_formatted_item_by_item():
    with translation.override("en"):
        assert format_value([datetime.date(2026, 1, 5)]) == "01/05/2026"


def test_none_becomes_empty():
    assert fill("[{umowa}]", {"umowa": None}) == "[]"


def test_numbers_become_text():
    assert fill("{numer}", {"numer": 17}) == "17"


def test_missing_value_stays_visible():
    assert fill("Umowa {umowa}", {}) == "Umowa {umowa}"


# --- whitelist ----------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "<style>p {color: red} .x{margin:0}</style>",
    '{"numer": "x", "items": [{"a": 1}]}',
    "{foo} {Numer} { numer } {numer {numery",
    "{{ numer }} {% if numer %}",
])
def test_other_brace_text_is_untouched(text):
    assert fill(text, {"numer": "X", "numery": "Y"}) == text


def test_css_and_macros_together():
    html = "<style>p {color: red}</style><p>{numer}</p>"
    assert fill(html, {"numer": "FV/1"}, html=True) == "<style>p {color: red}</style><p>FV/1</p>"


def test_a_value_containing_a_macro_is_not_filled_again():
    assert fill("{kontrahent} {numer}", {"kontrahent": "{numer}", "numer": "1"}) == "{numer} 1"


# --- escaping ----------------------------------------------------------------------


NASTY = "O'Brien & <Syn>"


def test_html_values_are_escaped():
    assert fill("<p>{kontrahent}</p>", {"kontrahent": NASTY}, html=True) == (
        "<p>O&#x27;Brien &amp; &lt;Syn&gt;</p>"
    )


def test_plain_text_and_subject_values_are_not_escaped():
    assert fill("Faktura dla {kontrahent}", {"kontrahent": NASTY}) == f"Faktura dla {NASTY}"


# --- defaults and precedence (message_values) ----------------------------------------


def test_firma_defaults_to_company_name():
    assert message_values(config=CONFIG, user=None)["firma"] == "Firma Testowa sp. z o.o."


def test_wysylajacy_is_the_sender_name_without_a_user():
    assert message_values(config=CONFIG, user=None)["wysyłający"] == "Biuro Firma"


def test_wysylajacy_is_the_users_full_name():
    values = message_values(config=CONFIG, user=user(first="Anna", last="Nowak"))
    assert values["wysyłający"] == "Anna Nowak"


def test_wysylajacy_falls_back_to_sender_name_when_user_has_no_name():
    assert message_values(config=CONFIG, user=user())["wysyłający"] == "Biuro Firma"


def test_anonymous_user_counts_as_no_user():
    from django.contrib.auth.models import AnonymousUser

    assert message_values(config=CONFIG, user=AnonymousUser())["wysyłający"] == "Biuro Firma"


@override_settings(SYMFONIA_MAIL={"PERSON_NAME": "tests.test_macros.person_from_profile"})
def test_person_name_hook_wins_over_full_name():
    values = message_values(config=CONFIG, user=user("jan", "Jan", "K."))
    assert values["wysyłający"] == "Jan Kowalski (księgowość)"


@override_settings(SYMFONIA_MAIL={"PERSON_NAME": "tests.test_macros.person_from_profile"})
def test_hook_without_an_answer_falls_back_to_full_name_then_sender_name():
    assert message_values(config=CONFIG, user=user("ewa", "Ewa", "Lis"))["wysyłający"] == "Ewa Lis"
    assert message_values(config=CONFIG, user=user("ola"))["wysyłający"] == "Biuro Firma"


@override_settings(SYMFONIA_MAIL={"PERSON_NAME": lambda u: "Z funkcji"})
def test_hook_may_be_a_callable():
    assert macros.person_name(user()) == "Z funkcji"


def test_explicit_wysylajacy_beats_the_users_name():
    values = message_values(config=CONFIG, user=user(first="Anna", last="Nowak"),
                            message_macros={"wysylajacy": "Dział windykacji"})
    assert values["wysyłający"] == "Dział windykacji"


def test_wystawiajacy_is_empty_by_default():
    assert message_values(config=CONFIG, user=user(first="Anna"))["wystawiający"] == ""


def test_wystawiajacy_from_a_user_is_their_person_data():
    issuer = user("piotr", "Piotr", "Wiśniewski")
    values = message_values(config=CONFIG, user=None, message_macros={"wystawiajacy": issuer})
    assert values["wystawiający"] == "Piotr Wiśniewski"


@override_settings(SYMFONIA_MAIL={"PERSON_NAME": "tests.test_macros.person_from_profile"})
def test_wystawiajacy_user_goes_through_the_hook():
    values = message_values(config=CONFIG, user=None, context_macros={"wystawiający": user("jan")})
    assert values["wystawiający"] == "Jan Kowalski (księgowość)"


def test_wystawiajacy_user_without_person_data_is_empty_not_the_sender():
    values = message_values(config=CONFIG, user=None, message_macros={"wystawiajacy": user()})
    assert values["wystawiający"] == ""


def test_wystawiajacy_given_as_text():
    values = message_values(config=CONFIG, user=None, message_macros={"wystawiający": "J. Nowak"})
    assert values["wystawiający"] == "J. Nowak"


def test_message_macros_beat_context_macros_beat_defaults():
    values = message_values(
        config=CONFIG, user=None,
        context_macros={"numer": "context", "firma": "Context Firma", "umowa": "U/1"},
        message_macros={"numer": "message"},
    )
    assert values["numer"] == "message"
    assert values["firma"] == "Context Firma"
    assert values["umowa"] == "U/1"


def test_alias_in_message_beats_symfonia_name_in_context():
    values = message_values(config=CONFIG, user=None, context_macros={"z dnia": "ctx"},
                            message_macros={"z_dnia": "msg"})
    assert values["z dnia"] == "msg"


# --- unknown macro detection ----------------------------------------------------------


@pytest.mark.parametrize(("text", "token", "suggestion"), [
    ("Faktura {numr}", "{numr}", "numer"),
    ("z dnia {z dnai}", "{z dnai}", "z dnia"),
    ("{z_dnia}", "{z_dnia}", "z dnia"),
    ("{wysylajacy}", "{wysylajacy}", "wysyłający"),
    ("{Kontrahent}", "{Kontrahent}", "kontrahent"),
    ("{zupełnie inna rzecz}", "{zupełnie inna rzecz}", None),
])
def test_unknown_macro_like_tokens_are_reported(text, token, suggestion):
    assert macros.unknown_macros(text) == [(token, suggestion)]


def test_macros_css_json_and_template_code_are_not_reported():
    text = ('{numer} {z dnia} p {color: red} {"a": 1} {{ x }} {% if y %} {1} {a-b} {}'
            "{numery}")
    assert macros.unknown_macros(text) == []


def test_each_unknown_token_is_reported_once():
    assert macros.unknown_macros("{numr} {numr}") == [("{numr}", "numer")]
