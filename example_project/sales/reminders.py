"""Turn contractors and invoices into symfonia_mail reminders, and report the results."""

from functools import partial

from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from symfonia_mail.reminders.sending import ContractorReminder, OverdueDocument, Status

from .models import Company, Invoice
from .pdf import invoice_filename, render_invoice_pdf


def contractor_key(contractor):
    """Return the identity of *contractor* for the no-duplicates rule."""
    return f"sales.contractor:{contractor.pk}"


def document(invoice, company):
    """Return *invoice* as an OverdueDocument whose PDF is rendered when it is sent."""
    return OverdueDocument(
        number=invoice.number, issue_date=invoice.issue_date, due_date=invoice.due_date,
        amount=invoice.amount, outstanding=invoice.outstanding, currency=invoice.currency,
        pdf=partial(render_invoice_pdf, invoice, company), pdf_name=invoice_filename(invoice),
    )


def reminder(contractor, invoices, company):
    return ContractorReminder(
        name=contractor.name, emails=contractor.email_list(),
        documents=[document(invoice, company) for invoice in invoices],
        key=contractor_key(contractor), ref=contractor,
    )


def reminders_for_invoices(invoices, as_of):
    """Return one reminder per contractor with overdue invoices among *invoices*."""
    company = Company.current()
    overdue = (
        invoices.overdue(as_of).select_related("contractor")
        .order_by("contractor__name", "contractor_id", "due_date", "number")
    )
    grouped = {}
    for invoice in overdue:
        grouped.setdefault(invoice.contractor_id, (invoice.contractor, []))[1].append(invoice)
    return [reminder(contractor, items, company) for contractor, items in grouped.values()]


def reminders_for_contractors(contractors, as_of):
    """Return one reminder per contractor in *contractors*, overdue invoices or not.

    Contractors with nothing overdue are kept so the report can say so.
    """
    company = Company.current()
    contractors = list(contractors.order_by("name", "pk"))
    by_contractor = {contractor.pk: [] for contractor in contractors}
    overdue = Invoice.objects.overdue(as_of).filter(contractor__in=contractors)
    for invoice in overdue.order_by("due_date", "number"):
        by_contractor[invoice.contractor_id].append(invoice)
    return [reminder(c, by_contractor[c.pk], company) for c in contractors]


def reminders_for_keys(keys, as_of):
    """Return the reminders of the contractors with primary keys *keys* (a background run)."""
    from .models import Contractor

    return reminders_for_contractors(Contractor.objects.filter(pk__in=keys), as_of)


SOURCE = "sales.reminders.reminders_for_keys"


def summary_lines(results):
    """Return (status, message) pairs that describe *results* for people, one per status.

    Sent and planned contractors fit on a line; the others each need their
    reason, so they are a list, one contractor per item (HTML for the admin).
    """
    lines = []
    for status in Status:
        chosen = [result for result in results if result.status == status]
        if not chosen:
            continue
        label = status.label.capitalize()
        if status in (Status.SENT, Status.PLANNED):
            names = ", ".join(
                f"{r.contractor.name} ({r.reason})" if r.reason else r.contractor.name
                for r in chosen
            )
            lines.append((status, _("%(label)s: %(count)d (%(names)s)") % {
                "label": label, "count": len(chosen), "names": names}))
            continue
        lines.append((status, format_html(
            '{}<ul class="symfonia-list">{}</ul>',
            _("%(label)s: %(count)d") % {"label": label, "count": len(chosen)},
            format_html_join("", "<li>{} — {}</li>",
                             ((r.contractor.name, r.reason) for r in chosen)),
        )))
    return lines
