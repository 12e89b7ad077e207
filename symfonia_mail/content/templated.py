"""Message templates: resolve per scope, render, build and send.

Resolution (docs/integrator-guide.md): a user whose configuration scope is
``individual`` gets their own :class:`~symfonia_mail.models.MessageTemplate`
for the key, else the global one (``owner`` empty), else the built-in
default files ``symfonia_mail/messages/<key>/{subject.txt,body.txt,body.html}``,
loaded with ``django.template.loader`` so a host project's template
directory overrides them.

Stored templates are plain text with macros only and are never rendered as
Django templates: staff-written text must not execute template code. Built-in
files are Django templates; their context is the macro values under their
ASCII names (``numer``, ``z_dnia``, ``wysylajacy`` …) plus the caller's
``context`` dict. Macros are filled afterwards, by the backend, in one place.

Built-in files in another language sit next to the default ones with the
language code before the extension (``body.en.html``); the default files are
Polish. ``body.html`` makes an HTML message; ``body.txt`` is then its plain
text part (derived from the HTML when absent). An empty ``body.html`` in a
host project turns HTML off for that key.

The ``payment_reminder`` files list the overdue documents of
``context["documents"]``: items (objects or dicts) with ``number``,
``issue_date``, ``due_date``, ``amount``, ``outstanding``, ``currency`` and
``days_overdue``. ``context["totals"]`` (currency, outstanding sum) pairs are
added when not given. ``context["contractor"]`` is passed through untouched.
"""

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from email.mime.base import MIMEBase
from pathlib import PurePath
from typing import Any, TypeAlias

from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.db.models import Q
from django.template import Context, TemplateDoesNotExist
from django.template import Template as DjangoTemplate
from django.template.loader import select_template
from django.utils import translation

from .. import kinds
from .. import macros as macro_utils
from ..compat import message_kwargs, send_one
from ..config import resolver
from ..context import UserLike, context_macros, current_user
from ..exceptions import SymfoniaMailError
from ..models import MessageTemplate, Scope
from ..validators import MAX_HTML_BYTES, is_html  # noqa: F401 (public here too)
from .htmltext import html_to_text

BUILTIN_KEYS = ("test", "invoice", "payment_reminder", "contract")


class TemplateNotFoundError(SymfoniaMailError, LookupError):
    """No stored template and no built-in file exists for a key."""

    def __init__(self, key):
        self.key = key
        super().__init__(
            f"No message template for key {key!r}: add a MessageTemplate with that key in "
            f"the admin, or a template file symfonia_mail/messages/{key}/subject.txt and "
            f"body.txt (or body.html) to your project."
        )


@dataclass(frozen=True)
class Rendered:
    """A template ready to become a message; macros are not filled yet."""

    subject: str
    text: str
    html: str = ""  # empty: a plain-text message
    source: str = "default"  # "user", "global" or "default"


#: An attachment for build_templated: a file path, (filename, content, mimetype), a MIME part.
Attachment: TypeAlias = "str | PurePath | tuple[str, bytes | str, str | None] | MIMEBase"


# --- resolution ----------------------------------------------------------------


def _session(session=None, connection=None):
    if session is not None:
        return session
    session = getattr(connection, "session", None)
    if session is not None:
        return session
    return resolver.Session()


def stored_template(key, user=None, *, session=None):
    """Return the stored template that applies to *user* as Rendered, or None.

    Cached per configuration revision (any template save changes it), so many
    messages cost no query after the first.
    """
    session = _session(session)
    config = session.config_for(user)
    owner_id = config.user_id if config.scope == Scope.INDIVIDUAL else None
    return session.cached("templates", (owner_id, key), lambda: _load_stored(key, owner_id))


def _load_stored(key, owner_id):
    owners = Q(owner__isnull=True)
    if owner_id is not None:
        owners |= Q(owner_id=owner_id)
    rows = MessageTemplate.objects.filter(owners, key=key).only("owner_id", "subject", "body")
    by_owner = {row.owner_id: row for row in rows}  # one query for both candidates
    row = by_owner.get(owner_id) or by_owner.get(None)
    if row is None:
        return None
    return from_text(row.subject, row.body, source="user" if row.owner_id else "global")


def from_text(subject, body, *, source="global"):
    """Return Rendered for stored (plain text + macros) *subject* and *body*."""
    subject = " ".join((subject or "").split())
    body = (body or "").replace("\r\n", "\n")
    if is_html(body):
        return Rendered(subject, html_to_text(body), body, source)
    return Rendered(subject, body, "", source)


def render_default(key, *, values=None, context=None, language=None):
    """Render the built-in (or host-overridden) files of *key* as Rendered."""
    language = language or translation.get_language() or "pl"
    context = _file_context(values or {}, context or {})
    with translation.override(language):
        subject = _render_file(key, "subject", "txt", context, language, autoescape=False)
        html = _render_file(key, "body", "html", context, language, autoescape=True)
        text = _render_file(key, "body", "txt", context, language, autoescape=False)
    if subject is None or (html is None and text is None):
        raise TemplateNotFoundError(key)
    html = html.strip() + "\n" if html and html.strip() else ""
    if text is None or not text.strip():
        text = html_to_text(html)
    else:
        text = text.strip("\n") + "\n"
    return Rendered(" ".join(subject.split()), text, html, "default")


def built_in_text(key, *, language=None):
    """Return (subject, body) of *key*'s built-in files as a stored template holds them.

    Each macro the kind fills is given its own ``{name}`` as the value: the
    conditional parts show, and the macros stay in the text to be kept or moved.
    The body is the HTML one when the kind has it (what the built-in mail sends).
    """
    kind = kinds.get(key)
    names = kind.fills if kind is not None else macro_utils.MACROS
    rendered = render_default(key, values={name: "{" + name + "}" for name in names},
                              language=language)
    return rendered.subject, rendered.html or rendered.text


def _file_names(key, name, ext, language):
    codes = []
    for code in (language.lower(), language.lower().split("-")[0]):
        if code and code not in codes:
            codes.append(code)
    base = f"symfonia_mail/messages/{key}/{name}"
    return [*(f"{base}.{code}.{ext}" for code in codes), f"{base}.{ext}"]


def _render_file(key, name, ext, context, language, *, autoescape):
    try:
        template = select_template(_file_names(key, name, ext, language))
    except TemplateDoesNotExist:
        return None
    inner = getattr(template, "template", None)
    if not autoescape and isinstance(inner, DjangoTemplate):
        # Plain text and subjects must not be HTML-escaped ("&" stays "&").
        return inner.render(Context(context, autoescape=False))
    return template.render(context)


def _file_context(values, context):
    result = {macro_utils.MACROS.get(name, name): value for name, value in values.items()}
    result["macros"] = dict(values)
    result.update(context)
    if "documents" in result and "totals" not in result:
        result["totals"] = document_totals(result["documents"])
    return result


def _field(item, name):
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def document_totals(documents):
    """Return [(currency, sum of outstanding)] of *documents*, in first-seen order."""
    totals = {}
    for doc in documents or ():
        amount = _field(doc, "outstanding")
        if amount is None:
            continue
        currency = _field(doc, "currency") or ""
        totals[currency] = totals.get(currency, Decimal(0)) + Decimal(str(amount))
    return list(totals.items())


def render(key, user=None, *, values=None, context=None, language=None, session=None):
    """Return the template of *key* that applies to *user*, rendered (macros unfilled)."""
    stored = stored_template(key, user, session=session)
    if stored is not None:
        return stored
    return render_default(key, values=values, context=context, language=language)


# --- messages ------------------------------------------------------------------


def build_templated(key: str, to: Sequence[str], user: UserLike = None,
                    macros: Mapping[str, Any] | None = None,
                    attachments: Iterable[Attachment] | None = None,
                    cc: Sequence[str] | None = None, bcc: Sequence[str] | None = None,
                    language: str | None = None, connection: BaseEmailBackend | None = None,
                    context: Mapping[str, Any] | None = None, *,
                    session: resolver.Session | None = None,
                    **email_kwargs: Any) -> EmailMessage:
    """Return the EmailMessage for template *key* without sending it.

    An HTML template gives an EmailMultiAlternatives (plain text body plus a
    text/html alternative). *macros* become ``msg.macros``, so the backend
    fills them together with the computed ones; dates and lists are formatted
    here in *language*. *attachments* are file paths, ``(filename, content,
    mimetype)`` tuples or MIME parts. ``msg.user`` is set, so the message goes
    out through *user*'s configuration over any connection. Pass an open
    *connection* of ConfiguredEmailBackend to build many messages with no
    query per message (Django 6.1 deprecates binding it to the message, so
    there send them with ``connection.send_messages()``).
    """
    if user is None:
        user = getattr(connection, "user", None) or current_user()
    session = _session(session, connection)
    language = language or translation.get_language() or "pl"
    given = macro_utils.canonical(macros or {})
    values = macro_utils.message_values(
        config=session.config_for(user), user=user,
        context_macros=context_macros(), message_macros=given,
    )
    rendered = render(key, user, values=values, context=context, language=language,
                      session=session)
    common = {"to": to, "cc": cc, "bcc": bcc, **message_kwargs(connection), **email_kwargs}
    message: EmailMessage
    if rendered.html:
        message = EmailMultiAlternatives(rendered.subject, rendered.text, **common)
        message.attach_alternative(rendered.html, "text/html")
    else:
        message = EmailMessage(rendered.subject, rendered.text, **common)
    # Per-message options are plain attributes that any EmailMessage may carry.
    options: dict[str, Any] = {"macros": _formatted(given, language), "template_key": key}
    if user is not None:
        options["user"] = user  # the backend sends it through this user's configuration
    vars(message).update(options)
    for attachment in attachments or ():
        _attach(message, attachment)
    return message


def send_templated(key: str, to: Sequence[str], user: UserLike = None,
                   macros: Mapping[str, Any] | None = None,
                   attachments: Iterable[Attachment] | None = None,
                   cc: Sequence[str] | None = None, bcc: Sequence[str] | None = None,
                   language: str | None = None, connection: BaseEmailBackend | None = None,
                   context: Mapping[str, Any] | None = None, fail_silently: bool = False,
                   using: str | None = None, **email_kwargs: Any) -> int:
    """Render template *key* for *user* and send it; return what ``send()`` returns.

    *using* names a MAILERS alias (Django 6.1+); *connection* an open backend.
    """
    message = build_templated(
        key, to, user=user, macros=macros, attachments=attachments, cc=cc, bcc=bcc,
        language=language, connection=connection, context=context, **email_kwargs,
    )
    return send_one(message, connection=connection, fail_silently=fail_silently, using=using)


def _formatted(values, language):
    # Format dates now, in the message's language: the backend may run under another.
    with translation.override(language):
        return {
            name: macro_utils.format_value(value)
            if isinstance(value, datetime.date | list | tuple | set | frozenset) else value
            for name, value in values.items()
        }


def _attach(message, attachment):
    if isinstance(attachment, str | PurePath):
        message.attach_file(str(attachment))
    elif isinstance(attachment, tuple | list):
        message.attach(*attachment)
    else:
        message.attach(attachment)


# --- preview -------------------------------------------------------------------

SAMPLE_MACROS = {
    "numer": "FV/12/2026",
    "numery": ["FV/10/2026", "FV/11/2026"],
    "umowa": "UM/3/2026",
    "z dnia": datetime.date(2026, 11, 2),
    "kontrahent": "ACME sp. z o.o.",
    "data od": datetime.date(2026, 1, 1),
    "data do": datetime.date(2026, 12, 31),
}
SAMPLE_DOCUMENTS = [
    {"number": "FV/10/2026", "issue_date": datetime.date(2026, 10, 1),
     "due_date": datetime.date(2026, 10, 15), "amount": Decimal("1230.00"),
     "outstanding": Decimal("1230.00"), "currency": "PLN", "days_overdue": 42},
    {"number": "FV/11/2026", "issue_date": datetime.date(2026, 10, 20),
     "due_date": datetime.date(2026, 11, 3), "amount": Decimal("615.00"),
     "outstanding": Decimal("300.00"), "currency": "PLN", "days_overdue": 23},
]


def _key_of(source):
    if isinstance(source, str):
        return source
    if isinstance(source, Mapping):
        return source.get("key") or ""
    return getattr(source, "key", "")


def preview(template_or_form_data: MessageTemplate | Mapping[str, Any] | str, user: UserLike,
            *, language: str | None = None,
            context: Mapping[str, Any] | None = None) -> tuple[str, str, str]:
    """Return (subject, text_body, html_body) with sample values, without sending.

    *template_or_form_data* is a MessageTemplate, a mapping with ``subject``
    and ``body`` (the admin form's data; ``key`` alone previews the template
    that applies to *user*), or a key. Company and sender come from *user*'s
    configuration, as when sending; *user* is the sample issuing user too.
    ``html_body`` is "" for a plain-text template.
    """
    session = resolver.Session()
    language = language or translation.get_language() or "pl"
    source = template_or_form_data
    sample = {**SAMPLE_MACROS, "wystawiający": user}
    kind = kinds.get(_key_of(source))
    if kind is not None:
        # Only what this kind fills: a macro it never fills stays visible as written.
        sample = {name: value for name, value in sample.items() if name in kind.fills}
    context = {"documents": SAMPLE_DOCUMENTS, "contractor": SAMPLE_MACROS["kontrahent"],
               **(context or {})}
    with translation.override(language):
        values = macro_utils.message_values(
            config=session.config_for(user), user=user, context_macros={},
            message_macros=sample,
        )
        if isinstance(source, str):
            rendered = render(source, user, values=values, context=context,
                              language=language, session=session)
        elif isinstance(source, Mapping) and not (source.get("subject") or source.get("body")):
            rendered = render(source.get("key") or "", user, values=values, context=context,
                              language=language, session=session)
        else:
            if isinstance(source, Mapping):
                rendered = from_text(source.get("subject"), source.get("body"))
            else:
                rendered = from_text(source.subject, source.body)
        return (
            macro_utils.fill(rendered.subject, values),
            macro_utils.fill(rendered.text, values),
            macro_utils.fill(rendered.html, values, html=True) if rendered.html else "",
        )
