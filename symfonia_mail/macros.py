"""Whitelist macro substitution: the ten Symfonia macros and nothing else.

Never ``str.format`` on stored text: CSS (``p {color: red}``), JSON and any
unknown ``{name}`` must pass through untouched.
"""

import datetime
import re

from django.utils.formats import date_format
from django.utils.html import escape

# Symfonia name -> ASCII alias accepted from Python callers.
MACROS = {
    "numer": "numer",
    "numery": "numery",
    "umowa": "umowa",
    "z dnia": "z_dnia",
    "kontrahent": "kontrahent",
    "firma": "firma",
    "wysyłający": "wysylajacy",
    "data od": "data_od",
    "data do": "data_do",
    "wystawiający": "wystawiajacy",
}
_ALIAS_TO_NAME = {alias: name for name, alias in MACROS.items()}

MACRO_RE = re.compile(
    r"\{(" + "|".join(re.escape(name) for name in sorted(MACROS, key=len, reverse=True)) + r")\}"
)


def canonical(values):
    """Return *values* keyed by Symfonia names (ASCII aliases translated).

    When both spellings are given the Symfonia one wins; unknown keys are kept
    so callers can pass extra data to templates.
    """
    result = {}
    for key, value in values.items():
        name = _ALIAS_TO_NAME.get(key, key)
        if name != key and name in values:
            continue
        result[name] = value
    return result


def format_value(value):
    """Return the text a macro value stands for (dates in the active locale)."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, datetime.date):
        return date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def fill(text, values, *, html=False):
    """Replace known macros in *text* with *values* (canonical names).

    Macros with no value are left as written, so a missing value is visible
    rather than silently blank. In HTML the values are escaped.
    """
    if not text or "{" not in text:
        return text

    def replace(match):
        name = match.group(1)
        if name not in values:
            return match.group(0)
        rendered = format_value(values[name])
        return escape(rendered) if html else rendered

    return MACRO_RE.sub(replace, text)
