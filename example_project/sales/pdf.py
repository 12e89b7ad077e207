"""Render an invoice as a PDF with fpdf2 and the DejaVu Sans TrueType font.

The PDF core fonts (Helvetica & co.) only know Latin-1, so "ą, ę, ł, ż"
would be lost; an embedded TrueType font prints them. DejaVu Sans comes with
Debian's ``fonts-dejavu-core``; ``settings.SALES_PDF_FONT_DIR`` points
elsewhere when needed.
"""

import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
VAT_RATE = Decimal("0.23")  # the standard Polish rate; the demo sells services only
CENT = Decimal("0.01")


def font_dir():
    """Return the folder with the DejaVu Sans files, refusing clearly when absent."""
    folder = Path(getattr(settings, "SALES_PDF_FONT_DIR", DEFAULT_FONT_DIR))
    missing = [name for name in FONT_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise ImproperlyConfigured(
            f"Invoice PDFs need the DejaVu Sans fonts ({', '.join(missing)} not found in "
            f"{folder}). Install Debian's fonts-dejavu-core package or set "
            "SALES_PDF_FONT_DIR to a folder that has them."
        )
    return folder


def money(value, currency):
    """Return *value* as Polish-formatted money: "1 230,50 PLN"."""
    text = f"{Decimal(value).quantize(CENT, ROUND_HALF_UP):,.2f}"
    return text.replace(",", " ").replace(".", ",") + f" {currency}"


def split_gross(gross):
    """Return (net, vat) of a gross amount at VAT_RATE, rounded to grosze."""
    gross = Decimal(gross)
    net = (gross / (1 + VAT_RATE)).quantize(CENT, ROUND_HALF_UP)
    return net, gross - net


def render_invoice_pdf(invoice, company=None, *, extra_lines=0):
    """Return the PDF of *invoice* as bytes.

    *extra_lines* adds that many specification lines (the benchmark uses it
    to make PDFs of a realistic size).
    """
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    from .models import Company

    company = company or Company.current()
    folder = font_dir()
    pdf = FPDF(format="A4")
    pdf.set_creation_date(datetime.datetime.combine(
        invoice.issue_date, datetime.time(12), tzinfo=datetime.UTC,
    ))
    pdf.set_title(f"Faktura {invoice.number}")
    pdf.set_author(company.name)
    for style, name in FONT_FILES.items():
        pdf.add_font("DejaVu", style, str(folder / name))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    nl = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}

    pdf.set_font("DejaVu", "B", 16)
    pdf.cell(0, 10, f"Faktura VAT {invoice.number}", **nl)
    pdf.set_font("DejaVu", "", 10)
    pdf.cell(0, 6, f"Data wystawienia: {invoice.issue_date:%d.%m.%Y}", **nl)
    pdf.cell(0, 6, f"Termin płatności: {invoice.due_date:%d.%m.%Y}", **nl)
    pdf.ln(4)

    top = pdf.get_y()
    half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    for column, (title, party) in enumerate((
        ("Sprzedawca", company), ("Nabywca", invoice.contractor),
    )):
        pdf.set_xy(pdf.l_margin + column * half, top)
        pdf.set_font("DejaVu", "B", 10)
        pdf.cell(half, 6, title, new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_font("DejaVu", "", 10)
        lines = [party.name, *(party.address or "").splitlines()]
        if party.tax_id:
            lines.append(f"NIP: {party.tax_id}")
        pdf.multi_cell(half - 4, 5, "\n".join(lines), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_y(max(pdf.get_y(), top + 30))
    pdf.ln(4)

    net, vat = split_gross(invoice.amount)
    currency = invoice.currency
    lines = [(invoice.description or "Usługi zgodnie z umową", net, vat, invoice.amount)]
    lines += [(f"Pozycja specyfikacji nr {n} — zużycie, dojazd, materiały", "", "", "")
              for n in range(1, extra_lines + 1)]
    with pdf.table(col_widths=(8, 70, 28, 28, 30), text_align=(
        "RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT",
    )) as table:
        table.row(["Lp.", "Nazwa", "Netto", "VAT 23%", "Brutto"])
        for index, (name, line_net, line_vat, gross) in enumerate(lines, 1):
            table.row([
                str(index), name,
                *(money(v, currency) if v != "" else "" for v in (line_net, line_vat, gross)),
            ])
    pdf.ln(4)

    pdf.set_font("DejaVu", "", 10)
    pdf.cell(0, 6, f"Razem brutto: {money(invoice.amount, currency)}", **nl)
    pdf.cell(0, 6, f"Zapłacono: {money(invoice.paid_amount, currency)}", **nl)
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(0, 8, f"Pozostaje do zapłaty: {money(invoice.outstanding, currency)}", **nl)
    pdf.set_font("DejaVu", "", 10)
    if company.bank_account:
        pdf.cell(0, 6, f"Rachunek bankowy: {company.bank_account}", **nl)
    pdf.cell(0, 6, f"Tytuł przelewu: {invoice.number}", **nl)
    return bytes(pdf.output())


def invoice_filename(invoice):
    """Return the attachment name of *invoice*'s PDF: FV/12/2026 -> FV_12_2026.pdf."""
    return invoice.number.replace("/", "_").replace(" ", "_") + ".pdf"
