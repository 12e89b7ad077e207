"""Whitelist macro substitution: the ten Symfonia macros and nothing else.

Never ``str.format`` on stored text: CSS (``p {color: red}``), JSON and any
unknown ``{name}`` must pass through untouched.
"""

import datetime
import difflib
import re
from functools import lru_cache

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.module_loading import import_string

from . import conf
from .exceptions import UnfilledMacro

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
# Brace text that looks like a macro someone meant to write: letters (any
# script), single spaces or underscores between words. CSS and JSON contain
# ":" or quotes, so they never match.
_MACRO_LIKE_RE = re.compile(r"\{([^\W\d_]+(?:[ _][^\W\d_]+)*)\}")


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
        # An aware datetime is shown on the local calendar (23:30 UTC is the
        # next day in Warsaw), as Django's |date filter does.
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, datetime.date):
        return date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def fill(text, values, *, html=False, strict=False):
    """Replace known macros in *text* with *values* (canonical names).

    With *strict* (what the backend sends), a known macro without a value
    raises :class:`~symfonia_mail.exceptions.UnfilledMacro`: it would reach
    the reader as written. Otherwise (previews) it is left as written, so it
    stays visible. In HTML the values are escaped.
    """
    if not text or "{" not in text:
        return text

    rendered = {}  # a macro used ten times in a body is formatted once
    missing = []

    def replace(match):
        name = match.group(1)
        if name not in values:
            if name not in missing:
                missing.append(name)
            return match.group(0)
        if name not in rendered:
            text = format_value(values[name])
            rendered[name] = escape(text) if html else text
        return rendered[name]

    result = MACRO_RE.sub(replace, text)
    if strict and missing:
        raise UnfilledMacro(missing)
    return result


def used_macros(*texts):
    """Return the known macros used in *texts*, in order of first use, without repeats."""
    found = []
    for text in texts:
        for match in MACRO_RE.finditer(text or ""):
            if match.group(1) not in found:
                found.append(match.group(1))
    return found


def unknown_macros(text):
    """Return the macro-like ``{tokens}`` of *text* that are not macros, in order.

    Each item is ``(token, suggestion)``; the suggestion is the closest macro
    name or None. ASCII aliases (``{z_dnia}``) are reported too: they are for
    Python callers, a template must use the Symfonia name.
    """
    found = []
    for match in _MACRO_LIKE_RE.finditer(text or ""):
        name = match.group(1)
        if name in MACROS or any(token == match.group(0) for token, _s in found):
            continue
        found.append((match.group(0), _suggest(name)))
    return found


def _suggest(name):
    if name in _ALIAS_TO_NAME:
        return _ALIAS_TO_NAME[name]
    close = difflib.get_close_matches(name.lower(), list(MACROS), n=1, cutoff=0.6)
    if not close:
        # Users often type the Polish names without diacritics ("wysylajacy").
        close = difflib.get_close_matches(name.lower(), list(_ALIAS_TO_NAME), n=1, cutoff=0.6)
        close = [_ALIAS_TO_NAME[c] for c in close]
    return close[0] if close else None


# --- values of one message ---------------------------------------------------


def person_name(user):
    """Return the "person data" of *user*: SYMFONIA_MAIL["PERSON_NAME"], else full name."""
    if user is None or not getattr(user, "is_authenticated", True):
        return ""
    hook = conf.get("PERSON_NAME")
    if hook:
        name = _hook(hook)(user) if isinstance(hook, str) else hook(user)
        if name:
            return str(name).strip()
    get_full_name = getattr(user, "get_full_name", None)
    return (get_full_name() or "").strip() if get_full_name else ""


@lru_cache(maxsize=8)
def _hook(path):
    return import_string(path)


def _is_user(value):
    # Duck typing: importing the user model here would need the app registry.
    return hasattr(value, "get_username") and hasattr(value, "pk")


def message_values(*, config, user, context_macros=None, message_macros=None):
    """Return the macro values of one message, keyed by Symfonia names.

    Precedence, innermost last: computed defaults < ``mail_context(...)``
    values < ``msg.macros``. Defaults: ``{firma}`` is the configuration's
    company name; ``{wysyłający}`` the sending user's person data, else the
    configuration's sender name; ``{wystawiający}`` is empty. A user object
    given for ``wysyłający`` or ``wystawiający`` stands for its person data.
    """
    values = {
        "firma": getattr(config, "company_name", "") or "",
        "wysyłający": person_name(user) or getattr(config, "sender_name", "") or "",
        "wystawiający": "",
    }
    values.update(canonical(context_macros or {}))
    values.update(canonical(message_macros or {}))
    for name in ("wysyłający", "wystawiający"):
        if _is_user(values[name]):
            given = values[name]
            values[name] = person_name(given) or (
                getattr(config, "sender_name", "") if name == "wysyłający" else ""
            )
    return values
