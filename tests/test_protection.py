"""protect_message on real files, checked with pikepdf/pyzipper and with qpdf and 7z.

qpdf and 7z are independent tools (``make test`` installs them). Tests marked
``external_tools`` fail, not skip, when they are missing: a skipped check
would look like a passing one.
"""

import copy
import email
import email.policy
import io
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.text import MIMEText
from pathlib import Path

import pikepdf
import pytest
import pyzipper
from django.core.mail import EmailMessage, EmailMultiAlternatives
from fpdf import FPDF

from symfonia_mail.compat import DJANGO_6
from symfonia_mail.content.message import copy_message
from symfonia_mail.exceptions import AttachmentProtectionError, DeliveryError
from symfonia_mail.fields import UnreadableSecret
from symfonia_mail.protection import attachments as protection

PASSWORD = "Zażółć gęślą jaźń 42!"
CSV = "numer;kontrahent;kwota\r\nFV/1/2026;ACME sp. z o.o.;1 234,56 zł\r\n".encode() * 50
# A 1x1 PNG, as an inline logo would be.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2d5e0cc0000000049454e44ae426082"
)


# Real files, made here.

def make_pdf(pages=3):
    """Return a PDF of *pages* pages, each saying "Strona N"."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=14)
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.cell(text=f"Strona {number} of invoice FV/12/2026")
    return bytes(pdf.output())


def make_encrypted_pdf():
    password = "someone-else"
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(make_pdf(2))) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(user=password, owner=password + "-o", R=6))
    return out.getvalue()


def make_damaged_pdf():
    """A PDF header followed by garbage: pikepdf raises PdfError on it."""
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) * 40


def make_broken_xref_pdf():
    """A valid PDF whose xref offsets are wrong: pikepdf repairs it with warnings."""
    data = make_pdf(2)
    start = data.rindex(b"startxref")
    return data[:start] + b"startxref\n999999\n%%EOF\n"


def make_xlsx_like():
    """An OOXML-shaped ZIP container (what .xlsx/.docx files are)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>' * 20)
        archive.writestr("xl/worksheets/sheet1.xml", f"<sheetData>{'<row/>' * 2000}</sheetData>")
    return out.getvalue()


def message_with(*attachments):
    message = EmailMessage("Faktura", "W załączeniu.", to=["client@example.com"])
    for attachment in attachments:
        if isinstance(attachment, tuple):
            message.attach(*attachment)
        else:
            message.attach(attachment)  # a MIME part
    return message


def only(message):
    [attachment] = message.attachments
    return attachment


# Readers and independent tools.

def open_zip(data, password=PASSWORD):
    """Return (name, bytes, ZipInfo) of the only member of a ZIP."""
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        [info] = archive.infolist()
        archive.setpassword(password.encode())
        return info.filename, archive.read(info), info


def tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; `make test` installs it (apt-get install "
                    "qpdf p7zip-full). This check must not be skipped.")
    return path


def qpdf_requires_password(path, password=None):
    """Return qpdf's exit code: 0 = a password is needed, 3 = not (with the right one)."""
    args = [tool("qpdf"), "--requires-password", str(path)]
    if password is not None:
        args.insert(1, f"--password={password}")
    return subprocess.run(args, capture_output=True, timeout=60).returncode


def sevenzip_test(path, password):
    """Return (exit code, output) of ``7z t``; -p always, or 7z waits for a prompt."""
    run = subprocess.run([tool("7z"), "t", f"-p{password}", str(path)],
                         capture_output=True, text=True, timeout=60)
    return run.returncode, run.stdout + run.stderr


def sevenzip_method(path, password):
    run = subprocess.run([tool("7z"), "l", "-slt", f"-p{password}", str(path)],
                         capture_output=True, text=True, timeout=60)
    return [line for line in run.stdout.splitlines() if line.startswith("Method = ")]


def write(tmp_path, attachment):
    path = tmp_path / attachment.filename
    path.write_bytes(attachment.content)
    return path


def assert_pdf_protected(tmp_path, attachment, *, name, pages):
    """The PDF needs the password, opens with it, pages intact (pikepdf and qpdf)."""
    assert attachment.filename == name
    assert attachment.mimetype == "application/pdf"
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(attachment.content))
    with pikepdf.open(io.BytesIO(attachment.content), password=PASSWORD) as pdf:
        assert len(pdf.pages) == pages
        assert pdf.encryption.R == 6 and pdf.encryption.bits == 256
        assert pdf.user_password_matched and not pdf.owner_password_matched
        text = pdf.pages[pages - 1].Contents.read_bytes()
        assert f"Strona {pages} ".encode() in text
    path = write(tmp_path, attachment)
    assert qpdf_requires_password(path) == 0
    assert qpdf_requires_password(path, PASSWORD) == 3
    assert qpdf_requires_password(path, "wrong password") == 0


def assert_zip_protected(tmp_path, attachment, *, member, data):
    """The ZIP member needs the password and equals *data* with it (pyzipper and 7z)."""
    assert attachment.filename == f"{member}.zip"
    assert attachment.mimetype == "application/zip"
    name, content, info = open_zip(attachment.content)
    assert name == member and content == data
    assert info.flag_bits & 1
    with pytest.raises(RuntimeError):
        open_zip(attachment.content, "wrong password")
    path = write(tmp_path, attachment)
    code, output = sevenzip_test(path, PASSWORD)
    assert code == 0 and "Everything is Ok" in output, output
    code, output = sevenzip_test(path, "wrong password")
    assert code != 0 and "Everything is Ok" not in output
    return info


external = pytest.mark.external_tools


# PDFs.

@external
def test_pdf_is_encrypted_aes256_and_keeps_its_name_and_pages(tmp_path):
    message = message_with(("FV 12-2026.pdf", make_pdf(3), "application/pdf"))
    report = protection.protect_message(message, PASSWORD)
    assert report == (protection.Protected("FV 12-2026.pdf", "FV 12-2026.pdf", "pdf"),)
    assert_pdf_protected(tmp_path, only(message), name="FV 12-2026.pdf", pages=3)


def test_each_pdf_gets_its_own_random_owner_password():
    first = protection.encrypt_pdf(make_pdf(1), PASSWORD)
    second = protection.encrypt_pdf(make_pdf(1), PASSWORD)
    for data in (first, second):
        with pytest.raises(pikepdf.PasswordError):
            pikepdf.open(io.BytesIO(data), password="")
    # Different owner passwords give different /O entries.
    with pikepdf.open(io.BytesIO(first), password=PASSWORD) as a, \
            pikepdf.open(io.BytesIO(second), password=PASSWORD) as b:
        assert a.trailer.Encrypt.O != b.trailer.Encrypt.O


@external
@pytest.mark.parametrize("password", ["a" * 200, "ż" * 70])
def test_pdf_opens_with_a_password_longer_than_127_bytes(tmp_path, password):
    # qpdf encrypting with the whole of such a password wrote PDFs that no
    # password opened; readers use the first 127 bytes (PDF 2.0 §7.6.4.3.3).
    message = message_with(("long.pdf", make_pdf(1), None))
    protection.protect_message(message, password)
    with pikepdf.open(io.BytesIO(only(message).content), password=password) as pdf:
        assert len(pdf.pages) == 1
    path = write(tmp_path, only(message))
    assert qpdf_requires_password(path) == 0
    assert qpdf_requires_password(path, password) == 3


@external
def test_pdf_is_recognised_by_content_not_by_name_or_type(tmp_path):
    message = message_with(("skan", make_pdf(2), "application/octet-stream"),
                           ("not-really.pdf", b"plain text, no header", "application/pdf"))
    protection.protect_message(message, PASSWORD)
    scan, fake = message.attachments
    assert_pdf_protected(tmp_path, scan, name="skan", pages=2)
    assert_zip_protected(tmp_path, fake, member="not-really.pdf", data=b"plain text, no header")


def test_pdf_header_counts_within_the_first_1024_bytes_only():
    pdf = make_pdf(1)
    assert protection.is_pdf(b"\n" * 1000 + pdf)
    assert not protection.is_pdf(b"\n" * 1024 + pdf)


@external
def test_damaged_pdf_is_zipped_instead(tmp_path, caplog):
    damaged = make_damaged_pdf()
    message = message_with(("uszkodzony.pdf", damaged, "application/pdf"))
    with caplog.at_level(logging.INFO, logger="symfonia_mail.protection"):
        report = protection.protect_message(message, PASSWORD)
    assert report[0].method == "zip"
    info = assert_zip_protected(tmp_path, only(message), member="uszkodzony.pdf", data=damaged)
    assert info.compress_type == zipfile.ZIP_STORED  # PDF in a ZIP: stored
    assert "uszkodzony.pdf" in caplog.text and PASSWORD not in caplog.text


@external
def test_already_encrypted_pdf_is_zipped_instead(tmp_path):
    # pikepdf raises PasswordError here, which is not a PdfError.
    encrypted = make_encrypted_pdf()
    message = message_with(("zaszyfrowany.pdf", encrypted, "application/pdf"))
    protection.protect_message(message, PASSWORD)
    assert_zip_protected(tmp_path, only(message), member="zaszyfrowany.pdf", data=encrypted)


@external
def test_pdf_with_a_broken_xref_is_repaired_and_encrypted(tmp_path):
    message = message_with(("xref.pdf", make_broken_xref_pdf(), "application/pdf"))
    protection.protect_message(message, PASSWORD)
    assert_pdf_protected(tmp_path, only(message), name="xref.pdf", pages=2)


# Other files.

@external
def test_csv_goes_into_an_aes_zip_deflated(tmp_path):
    message = message_with(("należności.csv", CSV, "text/csv"))
    protection.protect_message(message, PASSWORD)
    info = assert_zip_protected(tmp_path, only(message), member="należności.csv", data=CSV)
    assert info.compress_type == zipfile.ZIP_DEFLATED
    assert info.compress_size < len(CSV) / 4
    assert info.wz_aes_strength == 3  # WinZip AES-256
    assert sevenzip_method(write(tmp_path, only(message)), PASSWORD) == [
        "Method = AES-256 Deflate"
    ]


@external
def test_xlsx_like_binary_is_stored_not_deflated_again(tmp_path):
    xlsx = make_xlsx_like()
    message = message_with(("raport.xlsx", xlsx,
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    protection.protect_message(message, PASSWORD)
    info = assert_zip_protected(tmp_path, only(message), member="raport.xlsx", data=xlsx)
    assert info.compress_type == zipfile.ZIP_STORED


@pytest.mark.parametrize(("name", "data", "stored"), [
    ("photo.JPG", b"anything", True),
    ("archive.tar.gz", b"anything", True),
    ("dokument.odt", b"anything", True),
    ("no-extension", b"\x89PNG\r\n\x1a\n....", True),
    ("misnamed.txt", b"PK\x03\x04rest", True),
    ("movie", b"\x00\x00\x00\x18ftypmp42", True),
    ("notes.txt", b"plain text", False),
    ("data.csv", CSV, False),
    ("table.xls", b"\xd0\xcf\x11\xe0 OLE2 is not compressed", False),
])
def test_compressed_formats_are_recognised(name, data, stored):
    assert protection.is_compressed(name, data) is stored


@external
def test_attach_file_keeps_the_files_bytes(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "zestawienie.csv").write_bytes(CSV)
    message = EmailMessage("s", "b", to=["client@example.com"])
    message.attach_file(source / "zestawienie.csv")  # Django decodes text/* to str
    assert isinstance(only(message).content, str)
    protection.protect_message(message, PASSWORD)
    assert_zip_protected(tmp_path, only(message), member="zestawienie.csv", data=CSV)


def test_zipcrypto_setting_writes_a_zipcrypto_archive(settings):
    settings.SYMFONIA_MAIL = {"ZIP_ENCRYPTION": "zipcrypto"}
    payload = os.urandom(3000)
    message = message_with(("dane.csv", CSV, "text/csv"), ("blob.bin", payload))
    protection.protect_message(message, PASSWORD)
    csv_zip, blob_zip = message.attachments
    for attachment, member, data in ((csv_zip, "dane.csv", CSV), (blob_zip, "blob.bin", payload)):
        # Python's own zipfile reads ZipCrypto: a reader nobody here wrote.
        with zipfile.ZipFile(io.BytesIO(attachment.content)) as archive:
            [info] = archive.infolist()
            assert info.filename == member and info.flag_bits & 1
            with pytest.raises(RuntimeError):
                archive.read(info, pwd=b"wrong password")
            assert archive.read(info, pwd=PASSWORD.encode()) == data


@external
def test_zipcrypto_archive_passes_7z(tmp_path, settings):
    settings.SYMFONIA_MAIL = {"ZIP_ENCRYPTION": "zipcrypto"}
    message = message_with(("dane.csv", CSV, "text/csv"))
    protection.protect_message(message, "ascii-Pass-1")
    path = write(tmp_path, only(message))
    code, output = sevenzip_test(path, "ascii-Pass-1")
    assert code == 0 and "Everything is Ok" in output, output
    assert sevenzip_test(path, "wrong password")[0] != 0
    assert sevenzip_method(path, "ascii-Pass-1") == ["Method = ZipCrypto Deflate"]


@external
@pytest.mark.parametrize(("encryption", "password"), [
    ("aes", "ż" * 49 + "x"),  # 99 bytes: the most 7-Zip takes for AES ZIP
    ("zipcrypto", "x" * 200),
])
def test_longest_usable_zip_passwords_open_in_7z(tmp_path, settings, encryption, password):
    settings.SYMFONIA_MAIL = {"ZIP_ENCRYPTION": encryption}
    message = message_with(("dane.csv", CSV, "text/csv"))
    protection.protect_message(message, password)
    code, output = sevenzip_test(write(tmp_path, only(message)), password)
    assert code == 0 and "Everything is Ok" in output, output


# MIME parts, inline images, attached messages.

@external
def test_mimebase_parts_are_protected_by_their_content(tmp_path):
    pdf_part = MIMEApplication(make_pdf(2), "pdf")
    pdf_part.add_header("Content-Disposition", "attachment",
                        filename=("utf-8", "", "Faktura ż.pdf"))  # RFC 2231
    csv_part = MIMEText(CSV.decode(), "csv", "utf-8")
    csv_part.add_header("Content-Disposition", "attachment",
                        filename="=?utf-8?q?d=C5=BC.csv?=")  # RFC 2047, as some mailers do
    message = message_with(pdf_part, csv_part)
    protection.protect_message(message, PASSWORD)
    pdf, csv = message.attachments
    assert_pdf_protected(tmp_path, pdf, name="Faktura ż.pdf", pages=2)
    assert_zip_protected(tmp_path, csv, member="dż.csv", data=CSV)


def logo_part(content_id="<logo@firma.example>", disposition="inline"):
    image = MIMEImage(PNG, "png")
    image.add_header("Content-ID", content_id)
    if disposition:
        image.add_header("Content-Disposition", disposition)
    return image


def html_message(html, *parts):
    message = EmailMultiAlternatives("Logo", "text", to=["client@example.com"])
    message.attach_alternative(html, "text/html")
    if not DJANGO_6:  # Django 6 dropped the attribute
        message.mixed_subtype = "related"
    for part in parts:
        message.attach(part)
    return message


@external
def test_an_inline_picture_the_html_shows_stays_in_the_body(tmp_path):
    logo = logo_part()
    message = html_message('<html><img src="cid:logo@firma.example"></html>', logo)
    message.attach("należności.csv", CSV, "text/csv")
    protection.protect_message(message, PASSWORD)
    kept, csv = message.attachments
    assert kept is logo  # the body's picture, untouched
    assert_zip_protected(tmp_path, csv, member="należności.csv", data=CSV)
    built = message.message()
    if not DJANGO_6:  # the structure the caller chose is kept
        assert built.get_content_subtype() == "related"
    [image] = [p for p in built.walk() if p.get_content_maintype() == "image"]
    assert image["Content-ID"] == "<logo@firma.example>"
    assert image.get_payload(decode=True) == PNG
    assert [p.get_filename() for p in built.walk() if p.get_filename()] == ["należności.csv.zip"]


@external
@pytest.mark.parametrize("html, part", [
    # Nothing in the HTML shows it: a file with a Content-ID is still a file.
    ('<html><img src="cid:other@firma.example"></html>', logo_part()),
    ("<html>no pictures</html>", logo_part()),
    # The sender said "attachment": protected, whatever the HTML references.
    ('<html><img src="cid:logo@firma.example"></html>', logo_part(disposition="attachment")),
], ids=["other-cid", "no-cid", "disposition-attachment"])
def test_a_part_the_html_does_not_show_inline_is_protected(tmp_path, html, part):
    message = html_message(html, part)
    protection.protect_message(message, PASSWORD)
    assert_zip_protected(tmp_path, only(message), member="logo.png", data=PNG)
    built = message.message()
    assert built.get_content_subtype() == "mixed"
    assert not [p for p in built.walk() if p.get_content_maintype() == "image"]


def test_cid_references_are_read_as_rfc_2392_urls():
    from symfonia_mail.protection.inline import referenced_content_ids

    message = EmailMessage("s", "<html><img src='cid:logo%40firma.example'>"
                                "<p style=\"background:url(cid:tlo.png)\">", to=["a@b.pl"])
    message.content_subtype = "html"
    assert referenced_content_ids(message) == {"logo@firma.example", "tlo.png"}
    message.content_subtype = "plain"  # a text body shows no pictures
    assert referenced_content_ids(message) == set()


@external
def test_attached_email_message_is_zipped_as_eml(tmp_path):
    inner = EmailMessage("Poprzednia wiadomość", "Treść", to=["a@example.com"])
    message = message_with((None, inner, "message/rfc822"))
    protection.protect_message(message, PASSWORD)
    attachment = only(message)
    assert attachment.filename == "attachment.eml.zip"
    name, data, _info = open_zip(attachment.content)
    assert name == "attachment.eml"
    eml = email.message_from_bytes(data, policy=email.policy.default)
    assert eml["Subject"] == "Poprzednia wiadomość" and eml.get_content().strip() == "Treść"
    assert sevenzip_test(write(tmp_path, attachment), PASSWORD)[0] == 0


def test_unnamed_and_path_names_get_safe_member_names():
    message = message_with((None, b"\x00\x01", "application/octet-stream"),
                           ("C:\\Users\\kasia\\..\\raport.txt", b"abc", "text/plain"),
                           ("../../etc/passwd", b"x", None))
    protection.protect_message(message, PASSWORD)
    assert [a.filename for a in message.attachments] == [
        "attachment.bin.zip", "raport.txt.zip", "passwd.zip",
    ]
    assert open_zip(message.attachments[1].content)[0] == "raport.txt"


# The message as a whole.

def test_message_is_never_protected_twice():
    message = message_with(("dane.csv", CSV, "text/csv"), ("a.pdf", make_pdf(1), None))
    protection.protect_message(message, PASSWORD)
    first = list(message.attachments)
    assert protection.is_protected(message)
    assert protection.protect_message(message, PASSWORD) == ()
    assert message.attachments == first
    # A copy of a protected copy stays marked (copy.copy keeps attributes).
    again = copy_message(message)
    assert protection.protect_message(again, PASSWORD) == ()
    assert open_zip(again.attachments[0].content)[1] == CSV


def test_callers_message_is_not_altered():
    original = message_with(("dane.csv", CSV, "text/csv"))
    before = list(original.attachments)
    shallow = copy.copy(original)  # shares the attachments list with the original
    protection.protect_message(shallow, PASSWORD)
    assert original.attachments == before and not protection.is_protected(original)
    assert shallow.attachments != before


def test_message_without_attachments_is_left_alone():
    message = EmailMessage("s", "b", to=["client@example.com"])
    assert protection.protect_message(message, "") == ()
    assert message.attachments == []


def test_pikepdf_and_pyzipper_are_imported_only_when_needed():
    code = (
        "import sys, django; django.setup();"
        "from django.core.mail import EmailMessage;"
        "import symfonia_mail.protection.attachments as p, symfonia_mail.content.message;"
        "import symfonia_mail.backends;"
        "p.protect_message(EmailMessage('s', 'b', to=['a@example.com']), 'pw');"
        "print('pikepdf' in sys.modules, 'pyzipper' in sys.modules)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
    )
    assert run.stdout.split() == ["False", "False"], run.stderr


# Fail closed.

def assert_fails_closed(message, password, *, filename, reason):
    before = list(message.attachments)
    with pytest.raises(AttachmentProtectionError) as caught:
        protection.protect_message(message, password)
    error = caught.value
    assert isinstance(error, DeliveryError)  # an SMTPException: fail_silently applies
    assert error.filename == filename and reason in error.reason
    assert filename in str(error) and reason in str(error)
    for text in (str(error), repr(error), repr(error.__cause__)):
        assert not password or password not in text
    assert message.attachments == before
    assert not protection.is_protected(message)
    return error


def test_unknown_zip_encryption_setting_fails_closed(settings):
    settings.SYMFONIA_MAIL = {"ZIP_ENCRYPTION": "rot13"}
    message = message_with(("a.pdf", make_pdf(1), None), ("dane.csv", CSV, "text/csv"))
    # The PDF needs no ZIP; the error names the file that does.
    assert_fails_closed(message, PASSWORD, filename="dane.csv", reason="'rot13'")


def test_password_too_long_for_aes_zip_fails_closed(tmp_path):
    # pyzipper would write it, but 7-Zip refuses AES ZIP passwords over 99
    # bytes: the recipient could never open the file.
    password = "ż" * 50  # 100 bytes
    message = message_with(("a.pdf", make_pdf(1), None), ("dane.csv", CSV, "text/csv"))
    assert_fails_closed(message, password, filename="dane.csv", reason="100 bytes long")
    # The same file and password do not open in 7-Zip: the check is not overcautious.
    path = tmp_path / "dane.csv.zip"
    path.write_bytes(protection.zip_file("dane.csv", CSV, password))
    assert sevenzip_test(path, password)[0] != 0


def test_empty_or_unreadable_password_fails_closed():
    assert_fails_closed(message_with(("a.pdf", make_pdf(1), None)), "",
                        filename="a.pdf", reason="password is empty")
    assert_fails_closed(message_with(("a.pdf", make_pdf(1), None)), UnreadableSecret("gAAAAAx"),
                        filename="a.pdf", reason="cannot be decrypted")


def test_content_that_is_not_a_file_fails_closed():
    message = message_with(("dane.csv", CSV, "text/csv"))
    message.attachments.append(("raport.pdf", None, "application/pdf"))  # bypasses attach()
    assert_fails_closed(message, PASSWORD, filename="raport.pdf", reason="NoneType")


def test_library_failure_fails_closed_without_leaking_the_password(monkeypatch):
    # Forced failure (a mock): pyzipper does not fail on any input we can
    # build here, so its write is replaced by one that raises, quoting the
    # password as a careless library might.
    def broken_writestr(self, *args, **kwargs):
        raise OSError(f"write failed for {PASSWORD}")

    monkeypatch.setattr(pyzipper.AESZipFile, "writestr", broken_writestr)
    message = message_with(("a.pdf", make_pdf(1), None), ("dane.csv", CSV, "text/csv"))
    error = assert_fails_closed(message, PASSWORD, filename="dane.csv", reason="OSError")
    assert "***" in error.reason
    assert error.__cause__ is None and error.__suppress_context__


def test_damaged_pdf_whose_zip_also_fails_is_not_sent(monkeypatch):
    # Forced failure (a mock), as above: both protections fail, nothing is left.
    def broken_writestr(self, *args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(pyzipper.AESZipFile, "writestr", broken_writestr)
    message = message_with(("uszkodzony.pdf", make_damaged_pdf(), "application/pdf"))
    assert_fails_closed(message, PASSWORD, filename="uszkodzony.pdf", reason="MemoryError")
