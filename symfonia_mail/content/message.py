"""Prepare a message for its configuration: macros, protection, sender, copies.

Everything happens on a copy: the caller's EmailMessage is never changed, so
sending it again (or resending a logged message) starts from the original.
"""

import copy
import mimetypes
import re
from email.utils import parseaddr

from django.conf import settings
from django.core.mail.message import EmailAlternative, EmailAttachment
from django.utils.functional import Promise

from .. import macros
from ..compat import addr_spec, detach_connection, message_bytes
from ..exceptions import InvalidMessageError
from ..models import Transport
from ..protection.attachments import protect_message
from ..validators import has_control_chars
from .mimebytes import large_attachments_spliced

# The alternatives that are message bodies; any other is a file.
BODY_TYPES = ("text/plain", "text/html")


def copy_message(message):
    """Return a copy of *message* whose lists and dicts can be changed freely.

    Lazy strings (``gettext_lazy``) become plain ones, as Django accepts them
    wherever text goes: subject, body, addresses and display names.
    """
    clone = copy.copy(message)
    clone.subject, clone.body = _text(message.subject), _text(message.body)
    clone.from_email = _text(message.from_email)
    clone.to = [_text(a) for a in message.to]
    clone.cc = [_text(a) for a in message.cc]
    clone.bcc = [_text(a) for a in message.bcc]
    clone.reply_to = [_text(a) for a in message.reply_to]
    clone.attachments = list(message.attachments)
    clone.extra_headers = dict(message.extra_headers)
    if hasattr(message, "alternatives"):
        clone.alternatives = list(message.alternatives)
    detach_connection(clone)
    return clone


def _text(value):
    return str(value) if isinstance(value, Promise) else value


def fill_macros(message, values):
    """Fill macros in the subject, the body and every text/html alternative.

    A known macro without a value fails the message (UnfilledMacro): never
    send ``{umowa}`` to a customer.
    """
    message.subject = macros.fill(message.subject, values, strict=True)
    message.body = macros.fill(message.body, values, html=message.content_subtype == "html",
                               strict=True)
    alternatives = getattr(message, "alternatives", None)
    if alternatives:
        message.alternatives = [_fill_alternative(alt, values) for alt in alternatives]


def _fill_alternative(alternative, values):
    content, mimetype = alternative
    content = _text(content)
    if isinstance(content, str) and mimetype in BODY_TYPES:
        content = macros.fill(content, values, html=mimetype == "text/html", strict=True)
    return EmailAlternative(content, mimetype)


def move_files_out_of_alternatives(message):
    """Turn non-body alternatives (a PDF, a text/calendar invite) into attachments.

    Django sends every alternative as a MIME part of its own; only plain text
    and HTML are bodies. Anything else is a file, and with a password set it
    must be protected like any attachment rather than leave in the clear.
    """
    alternatives = getattr(message, "alternatives", None)
    if not alternatives:
        return
    files = [alt for alt in alternatives if alt[1] not in BODY_TYPES]
    if not files:
        return
    message.alternatives = [alt for alt in alternatives if alt[1] in BODY_TYPES]
    for number, (content, mimetype) in enumerate(files, start=1):
        extension = mimetypes.guess_extension(mimetype) or ".bin"
        message.attachments.append(
            EmailAttachment(f"alternative-{number}{extension}", content, mimetype)
        )


def check_headers(message):
    """Refuse control characters in the subject (after macros), with a clear reason."""
    if has_control_chars(message.subject):
        raise InvalidMessageError(
            "The subject contains a line break or control character "
            f"({message.subject[:80]!r}); it cannot be sent as a header."
        )


def apply_sender(message, config):
    """Use the configured sender unless the caller chose one of their own."""
    if config.sender_email and message.from_email in (None, "", settings.DEFAULT_FROM_EMAIL):
        message.from_email = config.from_header


def merge_copies(message, config):
    """Add the configured CC and BCC addresses that the message does not have yet."""
    if not (config.cc or config.bcc):
        return
    present = {bare_address(a).lower() for a in (*message.to, *message.cc, *message.bcc)}
    for entries, target in ((config.cc, message.cc), (config.bcc, message.bcc)):
        for entry in entries:
            address = bare_address(entry).lower()
            if address not in present:
                target.append(entry)
                present.add(address)


# An address that needs no display-name parsing, quoting or IDNA encoding:
# sanitize_address() would return it unchanged.
_PLAIN_ADDRESS_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\Z")
# "Biuro Firmy <biuro@firma.example>": a name of plain words (RFC 5322 atext) before
# a plain address. Anything else (quotes, dots, commas, non-ASCII) takes the full parse.
_NAMED_ADDRESS_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*<([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+)>\Z"
)


def bare_address(value):
    """Return the address part of *value* ("Name <a@b>" -> "a@b"), cheaply when plain."""
    if _PLAIN_ADDRESS_RE.match(value):
        return value
    return parseaddr(value)[1]


def envelope_address(value, encoding):
    """Return the SMTP envelope form of *value*, as Django's backend computes it.

    sanitize_address() parses every address with the email package (~50
    microseconds): a plain ASCII address, alone or after a plain name, is
    read with a regular expression instead (the same result, tested).
    """
    value = str(value)  # a lazy string (gettext_lazy) is accepted, as by Django
    if _PLAIN_ADDRESS_RE.match(value):
        return value
    if named := _NAMED_ADDRESS_RE.match(value):
        return named[1]
    return addr_spec(value, encoding)


def prepare(message, config, *, user, context_macros):
    """Return a prepared copy of *message* for *config* (docs/architecture.md, step 3)."""
    prepared = copy_message(message)
    values = macros.message_values(
        config=config, user=user, context_macros=context_macros,
        message_macros=getattr(message, "macros", None),
    )
    fill_macros(prepared, values)
    check_headers(prepared)
    if config.transport != Transport.SYSTEM:
        config.check_addresses()  # stored values the admin form never saw
    if config.attachment_password:
        move_files_out_of_alternatives(prepared)
        if prepared.attachments:
            protect_message(prepared, config.checked_attachment_password())
    if config.transport == Transport.SYSTEM:
        return prepared  # the host's route decides sender, copies and DSN
    apply_sender(prepared, config)
    merge_copies(prepared, config)
    return prepared


def envelope(message):
    """Return (from_addr, recipients, bytes, Message-ID) for the SMTP transaction."""
    encoding = message.encoding or settings.DEFAULT_CHARSET
    from_addr = envelope_address(message.from_email, encoding)
    recipients = [envelope_address(addr, encoding) for addr in message.recipients()]
    with large_attachments_spliced(message) as splice:
        mime, data = message_bytes(message)
        data = splice(data)
    return from_addr, recipients, data, mime.get("Message-ID", "")
