"""Validators for header-bound and envelope fields."""

import re
from email.utils import getaddresses

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from . import conf, kinds
from .fields import UnreadableSecret
from .secret import reveal

# CR, LF and every other C0/C1 control character (TAB included: no header needs it).
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# RFC 5322 specials that make a display name need quotes (email.utils.specialsre).
_SPECIALS_RE = re.compile(r'[][\\()<>@,:;".]')
# Symfonia's (.NET DeliveryNotificationOptions) names. RFC 3461 §4.1: NEVER must not be
# combined with SUCCESS, FAILURE or DELAY; "None" (ask for nothing) means no NOTIFY at all.
DSN_FLAGS = ("OnSuccess", "OnFailure", "Delay")
DSN_EXCLUSIVE = ("Never", "None")
DSN_CHOICES = DSN_FLAGS + DSN_EXCLUSIVE
MAX_HTML_BYTES = 32 * 1024  # Symfonia's limit for HTML templates: 32,768 bytes UTF-8


def has_control_chars(value):
    """Return True when *value* holds CR/LF or another control character."""
    return bool(value) and _CONTROL_RE.search(value) is not None


def validate_no_control_chars(value):
    """Refuse CR/LF and control characters, which could inject headers."""
    if has_control_chars(value):
        raise ValidationError(
            _("Line breaks and control characters are not allowed here."),
            code="control_characters",
        )


def display_address(name, address):
    """Return ``"Name" <address>`` with the name quoted, never RFC 2047-encoded.

    ``email.utils.formataddr`` encodes a non-ASCII name; Django 6 re-parses that
    text with the modern policy and loses the address when the encoded name
    held a comma, semicolon or parenthesis (FACTS.md). Django encodes the
    quoted form itself, on 5.2 and 6.x alike.
    """
    if not name:
        return address
    if not _SPECIALS_RE.search(name):
        return f"{name} <{address}>"
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{address}>'


def split_address_list(value):
    """Split a comma-separated list at the commas outside quotes, comments and <>."""
    entries, current, quoted, escaped, depth = [], [], False, False, 0
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or depth):
            escaped = True
        elif char == '"' and depth == 0:
            quoted = not quoted
        elif not quoted and char in "(<":
            depth += 1
        elif not quoted and char in ")>" and depth:
            depth -= 1
        elif char == "," and not quoted and depth == 0:
            entries.append("".join(current))
            current = []
            continue
        current.append(char)
    entries.append("".join(current))
    return entries


def parse_address_list(value):
    """Return the entries of a comma-separated list, display names kept ('' -> [])."""
    if not value or not value.strip():
        return []
    return [display_address(name, addr) for name, addr in getaddresses([value]) if addr]


def address_list_problems(value):
    """Return the entries of a comma-separated list that are not e-mail addresses.

    Strict: each entry must be exactly one address (``a@b`` or ``Name <a@b>``);
    a line break or control character anywhere makes the whole value bad,
    since it could smuggle a header or an extra recipient in.
    """
    if not value or not value.strip():
        return []
    if has_control_chars(value):
        return [value[:80]]
    bad = []
    for part in (p.strip() for p in split_address_list(value)):
        if not part:
            bad.append(str(_("(empty entry)")))
            continue
        found = getaddresses([part])
        if len(found) != 1 or not found[0][1]:
            bad.append(part)
            continue
        try:
            validate_email(found[0][1])
        except ValidationError:
            bad.append(part)
    return bad


def strict_address_list(value):
    """Return (the addresses of *value*, its entries that are not addresses).

    When any entry is bad no address is returned: a list that cannot be read
    as a whole is not guessed at.
    """
    bad = address_list_problems(value)
    return ([] if bad else parse_address_list(value)), bad


def validate_address_list(value):
    """Check a comma-separated list: every entry a valid e-mail address."""
    validate_no_control_chars(value)
    bad = address_list_problems(value)
    if bad:
        raise ValidationError(
            _("Not a valid e-mail address: %(bad)s. Separate addresses with commas."),
            params={"bad": ", ".join(str(b) for b in bad)},
            code="invalid_address",
        )


def parse_dsn_notify(value):
    """Return the DSN flags of a stored value; () means "ask for nothing"."""
    if not value:
        return ()
    flags = tuple(v.strip() for v in value.split(",") if v.strip())
    return () if flags == ("None",) else flags


def validate_dsn_notify(value):
    """Allow a subset of OnSuccess/OnFailure/Delay, or Never alone, or None alone."""
    if not value:
        return
    flags = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [f for f in flags if f not in DSN_CHOICES]
    if unknown:
        raise ValidationError(
            _("Unknown notification option(s): %(unknown)s. Choose from: %(choices)s."),
            params={"unknown": ", ".join(unknown), "choices": ", ".join(DSN_CHOICES)},
            code="invalid_dsn",
        )
    if len(flags) != len(set(flags)):
        raise ValidationError(_("A notification option is listed twice."), code="invalid_dsn")
    for exclusive in DSN_EXCLUSIVE:
        if exclusive in flags and len(flags) > 1:
            raise ValidationError(
                _("“%(option)s” cannot be combined with other notification options."),
                params={"option": exclusive},
                code="invalid_dsn",
            )


def attachment_password_problem(value):
    """Return why *value* cannot protect attachments (translated), or None."""
    if not value or isinstance(value, UnreadableSecret):
        return None
    if zip_password_problem(value, conf.get("ZIP_ENCRYPTION")):
        return _(
            "This password is %(size)d bytes long; password-protected ZIP files can be "
            "opened in 7-Zip only with at most 99 bytes. Choose a shorter password."
        ) % {"size": len(value.encode("utf-8"))}
    return None


def is_html(body):
    """Return True when *body* is an HTML template: it starts with ``<html``.

    Leading whitespace and a ``<!DOCTYPE html>`` declaration are allowed,
    because pasted HTML documents usually begin with one.
    """
    head = (body or "").lstrip()[:200].lower()
    if head.startswith("<!doctype"):
        head = head[head.find(">") + 1:].lstrip()
    return head.startswith("<html")


def validate_template_key(key):
    """Refuse a template key that no registered kind uses: no code would ever send it."""
    if key and kinds.get(key) is None:
        raise ValidationError(
            _("No registered kind uses the key %(key)s, so no message would ever be sent "
              "with this template. Choose one of: %(known)s."),
            code="unknown_kind",
            params={"key": key, "known": ", ".join(k.key for k in kinds.all_kinds())},
        )


def validate_body_size(body):
    """Refuse an HTML body over 32 KB (32,768 bytes UTF-8), saying both sizes."""
    if not is_html(body):
        return
    size = len(body.encode("utf-8"))
    if size > MAX_HTML_BYTES:
        raise ValidationError(
            _("The HTML body is %(size)s bytes (UTF-8); an HTML template may have at most "
              "%(limit)s bytes (32 KB)."),
            code="html_too_long",
            params={"size": _number(size), "limit": _number(MAX_HTML_BYTES)},
        )


def _number(value):
    return number_format(value, force_grouping=True)


# 7-Zip (checked with 26.02) opens WinZip AES archives only with passwords of
# at most 99 bytes; longer ones are refused even when right.
AES_ZIP_PASSWORD_BYTES = 99


def zip_password_problem(password, zip_encryption="aes"):
    """Return why *password* cannot protect a ZIP, or "" when it can."""
    if zip_encryption not in conf.ZIP_ENCRYPTIONS:
        # Also a system check (symfonia_mail.E004); here it must stop the message.
        return (f"SYMFONIA_MAIL['ZIP_ENCRYPTION'] = {zip_encryption!r} is not 'aes' or "
                "'zipcrypto'")
    size = len(reveal(password).encode("utf-8"))
    if zip_encryption == "aes" and size > AES_ZIP_PASSWORD_BYTES:
        # pyzipper writes it, but 7-Zip refuses longer AES ZIP passwords: the
        # recipient could never open the file.
        return (f"the attachment password is {size} bytes long (UTF-8); AES ZIP files "
                f"need at most {AES_ZIP_PASSWORD_BYTES} to open in 7-Zip")
    return ""
