"""Password-protect the attachments of a message (README "Protected attachments").

``protect_message(message, password)`` replaces every attachment of a message
(the pipeline's copy, never the caller's) with a protected file:

- a PDF, recognised by its content (``%PDF-`` within the first 1024 bytes,
  whatever its name or MIME type says), is encrypted with pikepdf: AES-256
  (R6), the user password is *password*, the owner password a random secret.
  It keeps its file name and becomes ``application/pdf``;
- every other file, and a PDF that pikepdf cannot encrypt (damaged, or
  already password-protected), goes alone into ``<file name>.zip``
  (``application/zip``), WinZip AES-256 by default, or ZipCrypto when
  ``SYMFONIA_MAIL["ZIP_ENCRYPTION"] = "zipcrypto"`` (weak, but it opens in
  Windows Explorer and macOS Archive Utility). The member keeps the original
  name and bytes; already-compressed formats are stored, the rest deflated at
  level 1 (the fast one).

What counts as an attachment: everything in ``message.attachments`` —
``(filename, content, mimetype)`` tuples (``attach()``, ``attach_file()``),
MIME parts (``MIMEBase``, ``MIMEPart``, also ``message/rfc822``). Not an
attachment: an inline part with a ``Content-ID`` that the HTML body shows as a
``cid:`` image (a logo; :mod:`.inline`) is part of the body and stays as it is,
and so do the alternatives (the HTML body itself).

Password limits: a PDF password longer than 127 bytes (UTF-8) is cut to 127
bytes, as PDF readers cut what the recipient types; an AES ZIP password may
have at most 99 bytes, because 7-Zip refuses longer ones (a longer password
fails a message that needs a ZIP, see below).

Fail closed: any attachment that cannot be protected raises
:class:`~symfonia_mail.exceptions.AttachmentProtectionError` naming the file
and the reason (never the password), and the message keeps its original
attachments list, so the caller must not send it. A protected message is
marked and never protected twice. pikepdf and pyzipper are imported only when
a message actually has attachments (together ≈ 270 ms and 17 MiB).
"""

import io
import logging
import mimetypes
import re
import secrets
import struct
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message

from django.core.mail.message import EmailAttachment, EmailMessage
from django.views.decorators.debug import sensitive_variables

from .. import conf
from ..exceptions import AttachmentProtectionError
from ..fields import UnreadableSecret
from ..secret import Secret, reveal
from ..validators import zip_password_problem
from . import zipcrypto
from .inline import is_inline_part, referenced_content_ids

logger = logging.getLogger(__name__)

PDF_MIMETYPE = "application/pdf"
ZIP_MIMETYPE = "application/zip"
# docs/architecture.md (measured): deflate costs ≈ 47 ms/MB at the default level, ≈ 14 ms/MB at 1.
DEFLATE_LEVEL = 1
# PDF 1.7 §7.5.2 lets readers find the header within the first 1024 bytes.
PDF_HEADER_WINDOW = 1024
PDF_PASSWORD_BYTES = 127

_MARK = "_symfonia_mail_protected"

# Formats that are compressed already: deflating them again costs time and
# saves nothing, so they go into the ZIP stored.
STORED_EXTENSIONS = frozenset("""
    7z apk avif bz2 cab docm docx dotx epub gif gz heic jar jpeg jpg lz lz4 lzma m4a m4v
    mkv mov mp3 mp4 mpeg mpg odg odp ods odt ogg opus pdf png potx ppsx pptm pptx rar tbz
    tgz txz webm webp wmv xlsb xlsm xlsx xps xz zip zipx zst
""".split())
_COMPRESSED_MAGIC = (
    b"PK\x03\x04", b"PK\x05\x06",  # zip and the OOXML/ODF/EPUB formats built on it
    b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07",
    b"\x28\xb5\x2f\xfd",  # zstd
    b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"OggS", b"\x1a\x45\xdf\xa3", b"ID3",
    b"%PDF-",
)


@dataclass(frozen=True)
class Protected:
    """What happened to one attachment: *method* is ``"pdf"`` or ``"zip"``."""

    original: str
    filename: str
    method: str


def is_protected(message):
    """Return whether *message* has had its attachments protected already."""
    return getattr(message, _MARK, False)


@sensitive_variables("password")
def protect_message(message, password):
    """Replace every attachment of *message* with a password-protected one.

    Return a tuple of :class:`Protected` records (empty when there was nothing
    to do). Raise :class:`AttachmentProtectionError` and leave the message as
    it was if any attachment cannot be protected.
    """
    if is_protected(message):
        return ()
    password = Secret(password)  # never a plain local: DEBUG pages print frames
    referenced = referenced_content_ids(message)
    protected, report, inline = [], [], False
    for attachment in message.attachments:
        if is_inline_part(attachment, referenced):
            protected.append(attachment)  # a picture of the body, in its place
            inline = True
            continue
        name, data = _file_of(attachment)
        _check_password(name, password)
        result, method = _protect(name, data, password, conf.get("ZIP_ENCRYPTION"))
        protected.append(result)
        report.append(Protected(name, result.filename, method))
    # A new list: a shallow copy of the caller's message shares the old one.
    message.attachments = protected
    if protected and not inline and getattr(message, "mixed_subtype", "mixed") == "related":
        # No inline part is left for the HTML to show: nothing is "related" any more.
        # (Django 5.2 only: Django 6 refuses the attribute altogether.)
        message.mixed_subtype = "mixed"
    setattr(message, _MARK, True)
    return tuple(report)


@sensitive_variables("password")
def _protect(name, data, password, zip_encryption):
    password = Secret(password)
    if is_pdf(data):
        try:
            return EmailAttachment(name, encrypt_pdf(data, password), PDF_MIMETYPE), "pdf"
        # Whatever stops pikepdf (PdfError on damage, PasswordError, which is
        # not a PdfError, on an encrypted file, RuntimeError from qpdf...), the
        # ZIP below still protects the file, so falling back is safe.
        except Exception as exc:  # noqa: BLE001
            logger.info(
                "Attachment %r cannot be encrypted as a PDF (%s); sending it in a ZIP.",
                name, _reason(exc, password),
            )
    problem = zip_password_problem(password, zip_encryption)
    if problem:
        raise AttachmentProtectionError(name, problem)
    try:
        content = zip_file(name, data, password, encryption=zip_encryption)
    except Exception as exc:  # noqa: BLE001 - fail closed: every failure names the file
        raise _failure(name, exc, password) from (None if _leaks(exc, password) else exc)
    return EmailAttachment(f"{name}.zip", content, ZIP_MIMETYPE), "zip"


def is_pdf(data):
    """Return whether *data* is a PDF by its content (``%PDF-`` header)."""
    return data.find(b"%PDF-", 0, PDF_HEADER_WINDOW + 4) != -1


@sensitive_variables("password")
def encrypt_pdf(data, password):
    """Return the PDF *data* encrypted with AES-256 (R6), *password* to open it."""
    import pikepdf

    password = Secret(password)
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        # Built in the call, never a local: pikepdf.Encryption's repr shows the password.
        # The owner password unlocks the permissions; nobody needs it: random, forgotten.
        pdf.save(out, encryption=pikepdf.Encryption(
            user=_pdf_user_password(password), owner=secrets.token_urlsafe(32), R=6))
    result = out.getvalue()
    # Belt and braces: an encrypted PDF names its /Encrypt dictionary in the
    # trailer (or xref stream), near the end; refuse output without one.
    if result.rfind(b"/Encrypt") == -1:
        raise RuntimeError("pikepdf wrote a PDF without encryption")
    return result


def _pdf_user_password(password):
    """Return the PDF user password, cut the readers' way (PDF 2.0 §7.6.4.3.3)."""
    # Readers truncate the UTF-8 password to 127 bytes; qpdf truncates when opening
    # but not when encrypting, so a longer one would give a PDF nobody can open.
    if len(reveal(password).encode("utf-8")) > PDF_PASSWORD_BYTES:
        return reveal(password).encode("utf-8")[:PDF_PASSWORD_BYTES]
    return reveal(password)


@sensitive_variables("password")
def zip_file(member, data, password, *, encryption="aes"):
    """Return a ZIP holding *data* as *member*, encrypted with *password*."""
    import pyzipper

    compression = pyzipper.ZIP_STORED if is_compressed(member, data) else pyzipper.ZIP_DEFLATED
    out = io.BytesIO()
    if encryption == "aes":
        archive = pyzipper.AESZipFile(out, "w", compression=compression,
                                      encryption=pyzipper.WZ_AES)  # 256-bit by default
    elif encryption == "zipcrypto":
        archive = zipcrypto.writer(out, compression=compression, check_data=data)
    else:
        raise ValueError(f"unknown ZIP encryption {encryption!r}")
    with archive:
        archive.setpassword(reveal(password).encode("utf-8"))
        archive.writestr(member, data, compresslevel=DEFLATE_LEVEL)
    result = out.getvalue()
    # Belt and braces: general purpose flag bit 0 = encrypted (APPNOTE 4.4.4).
    if not result.startswith(b"PK\x03\x04") or not struct.unpack_from("<H", result, 6)[0] & 1:
        raise RuntimeError("the ZIP was written without encryption")
    return result


def is_compressed(name, data):
    """Return whether the file is in a format that is compressed already."""
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if extension in STORED_EXTENSIONS or data.startswith(_COMPRESSED_MAGIC):
        return True
    # MP4/MOV/HEIC/AVIF: an "ftyp" box at offset 4 (ISO/IEC 14496-12).
    return data[4:8] == b"ftyp" or (data[:4] == b"RIFF" and data[8:12] in (b"WEBP", b"AVI "))


def _file_of(attachment):
    """Return (file name, bytes) of one entry of ``message.attachments``."""
    if isinstance(attachment, Message):
        return _part_file(attachment)
    try:
        filename, content, mimetype = attachment
    except (TypeError, ValueError):
        raise AttachmentProtectionError(
            type(attachment).__name__, "it is neither a MIME part nor a (filename, content, "
            "mimetype) tuple",
        ) from None
    mimetype = mimetype or (filename and mimetypes.guess_type(filename)[0]) or ""
    name = _safe_name(filename) or _fallback_name("attachment", mimetype)
    if isinstance(content, bytes | bytearray | memoryview):
        return name, bytes(content)
    if isinstance(content, EmailMessage):
        content = content.message()
    if isinstance(content, Message):
        return name, content.as_bytes()
    if isinstance(content, str):
        # attach() decodes text files as UTF-8, so encoding them back gives the
        # original bytes. (A MIME text part would carry its charset; a file in
        # a ZIP has no such label, so the message's encoding does not apply.)
        try:
            return name, content.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise AttachmentProtectionError(name, "its text cannot be encoded as UTF-8") \
                from exc
    raise AttachmentProtectionError(
        name, f"its content is {type(content).__name__}, not bytes or text",
    )


def _part_file(part):
    """Return (file name, bytes) of a MIME part (an attached or inline file)."""
    mimetype = part.get_content_type()
    stem = _content_id_stem(part) or "attachment"
    name = _safe_name(_decoded(part.get_filename())) or _fallback_name(stem, mimetype)
    if mimetype == "message/rfc822" and part.is_multipart():
        return name, part.get_payload(0).as_bytes()
    if part.is_multipart():
        # A whole MIME tree: keep it as one .eml file.
        return name if "." in name else f"{name}.eml", part.as_bytes()
    data = part.get_payload(decode=True)
    if data is None:
        raise AttachmentProtectionError(name, "its payload cannot be decoded")
    return name, data


def _decoded(filename):
    """Decode RFC 2047 encoded words that some mailers put in file names."""
    if filename and "=?" in filename:
        try:
            return str(make_header(decode_header(filename)))
        except (ValueError, LookupError, UnicodeDecodeError):
            return filename
    return filename


def _safe_name(filename):
    """Return the last path component of *filename* without control characters."""
    if not filename:
        return ""
    name = re.split(r"[\\/]", str(filename))[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return "" if name in (".", "..") else name


def _content_id_stem(part):
    content_id = part.get("Content-ID", "")
    return re.sub(r"[^A-Za-z0-9._-]", "", str(content_id).strip(" <>").split("@")[0])[:64]


def _fallback_name(stem, mimetype):
    if mimetype == "message/rfc822":
        return f"{stem}.eml"
    return stem + (mimetypes.guess_extension(mimetype or "") or "")


def _check_password(name, password):

    if isinstance(reveal(password), UnreadableSecret):
        raise AttachmentProtectionError(
            name, "the stored attachment password cannot be decrypted with FIELD_ENCRYPTION_KEY",
        )
    if not isinstance(reveal(password), str) or not password:
        raise AttachmentProtectionError(name, "the attachment password is empty or not text")


def _leaks(exc, password):
    return bool(password) and reveal(password) in str(exc)


def _reason(exc, password):
    text = str(exc) or type(exc).__name__
    return text.replace(reveal(password), "***") if password else text


def _failure(name, exc, password):
    return AttachmentProtectionError(name, f"{type(exc).__name__}: {_reason(exc, password)}")
