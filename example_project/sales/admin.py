"""Sales admin: contractors, invoices (with their PDF), "Send payment reminders"."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import CharField, F, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from symfonia_mail import conf
from symfonia_mail.admin.delivery import delivery_label
from symfonia_mail.admin.names import ReadableNamesMixin
from symfonia_mail.config import resolver
from symfonia_mail.exceptions import TransportNotAllowed
from symfonia_mail.models import MailLog, ReminderRecord
from symfonia_mail.reminders import Status, reminded_today, require_smtp, send_reminders
from symfonia_mail.reminders import runs as reminder_runs

from .models import Company, Contractor, Invoice
from .pdf import invoice_filename, render_invoice_pdf
from .reminders import (
    SOURCE,
    reminders_for_contractors,
    reminders_for_invoices,
    summary_lines,
)

_LEVELS = {
    Status.SENT: messages.SUCCESS, Status.PARTIAL: messages.WARNING, Status.PLANNED: messages.INFO,
    Status.SKIPPED: messages.WARNING, Status.FAILED: messages.ERROR,
}


class RemindersActionMixin:
    """The "Send payment reminders" action, sent as the logged-in user."""

    def reminders_for(self, queryset, as_of):
        raise NotImplementedError

    def contractor_keys(self, queryset):
        raise NotImplementedError

    @admin.action(description=_("Send payment reminders"), permissions=["change"])
    def send_payment_reminders(self, request, queryset):
        as_of = timezone.localdate()
        if conf.get("BACKGROUND"):
            return self.start_reminder_run(request, queryset, as_of)
        reminders = self.reminders_for(queryset, as_of)
        if not reminders:
            self.message_user(request, _("None of the selected is overdue."), messages.INFO)
            return
        self.send(request, reminders, as_of)

    @admin.action(description=_("Send again today (force)"), permissions=["change"])
    def send_payment_reminders_force(self, request, queryset):
        """Ask first, listing who was already reminded today; then send even to them."""
        as_of = timezone.localdate()
        reminders = self.reminders_for(queryset, as_of)
        if not reminders:
            self.message_user(request, _("None of the selected is overdue."), messages.INFO)
            return None
        if request.POST.get("post") == "yes":
            self.send(request, reminders, as_of, force=True)
            return None
        already = reminded_today(reminders)
        rows = [(reminder, already.get(reminder.identity, [])) for reminder in reminders]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Send payment reminders again today?"),
            "opts": self.opts,
            "reminded": [(r, records) for r, records in rows if records],
            "first_time": [r for r, records in rows if not records],
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action": "send_payment_reminders_force",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/sales/force_reminders.html", context)

    def send(self, request, reminders, as_of, *, force=False):
        try:
            results = send_reminders(reminders, user=request.user, as_of=as_of, force=force)
        except TransportNotAllowed as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        for status, line in summary_lines(results):
            self.message_user(request, line, _LEVELS[status])

    def start_reminder_run(self, request, queryset, as_of):
        """Enqueue the run for the workers and return at once, with a link to its progress."""
        try:
            require_smtp(resolver.resolve(request.user), request.user)
        except TransportNotAllowed as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        run = reminder_runs.start(SOURCE, self.contractor_keys(queryset), user=request.user,
                                  as_of=as_of)
        url = reverse("admin:symfonia_mail_reminderrun_change", args=[run.pk])
        self.message_user(request, format_html(
            gettext("Payment reminders for {count} contractor(s) are being sent in the background: "
              "<a href=\"{url}\">follow the run</a>."), count=run.total, url=url),
            messages.SUCCESS)


@admin.register(Company)
class CompanyAdmin(ReadableNamesMixin, admin.ModelAdmin):
    add_title = _("New company")
    list_display = ["name", "tax_id", "bank_account"]


class InvoiceInline(admin.TabularInline):
    model = Invoice
    extra = 0
    fields = ["number", "issue_date", "due_date", "amount", "paid_amount", "currency"]
    show_change_link = True


@admin.register(Contractor)
class ContractorAdmin(RemindersActionMixin, ReadableNamesMixin, admin.ModelAdmin):
    add_title = _("New contractor")
    list_display = ["name", "tax_id", "emails", "last_reminder"]
    search_fields = ["name", "tax_id", "emails"]
    actions = ["send_payment_reminders", "send_payment_reminders_force"]
    inlines = [InvoiceInline]

    def reminders_for(self, queryset, as_of):
        return reminders_for_contractors(queryset, as_of)

    def contractor_keys(self, queryset):
        return list(queryset.order_by("name", "pk").values_list("pk", flat=True))

    def get_queryset(self, request):
        # Did the last reminder arrive? Two nested subqueries in the list's one query:
        # the contractor's latest ReminderRecord, then its message's delivery state.
        # The contractor is two queries out from the ReminderRecord subquery.
        key = Concat(Value("sales.contractor:"), Cast(OuterRef(OuterRef("pk")), CharField()))
        last = (ReminderRecord.objects.filter(contractor_key=key)
                .order_by("-sent_at", "-id").values("message_id")[:1])
        delivery = (MailLog.objects.filter(message_id=Subquery(last))
                    .exclude(message_id="").order_by("-id").values("delivery")[:1])
        return super().get_queryset(request).annotate(delivery=Subquery(delivery))

    @admin.display(description=_("last reminder"), ordering="delivery")
    def last_reminder(self, contractor):
        return delivery_label(contractor)


class OverdueFilter(admin.SimpleListFilter):
    title = _("payment")
    parameter_name = "payment"

    def lookups(self, request, model_admin):
        return [("overdue", _("overdue")), ("unpaid", _("not fully paid"))]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            return queryset.overdue(timezone.localdate())
        if self.value() == "unpaid":
            return queryset.filter(paid_amount__lt=F("amount"))
        return queryset


@admin.register(Invoice)
class InvoiceAdmin(RemindersActionMixin, ReadableNamesMixin, admin.ModelAdmin):
    add_title = _("New invoice")
    list_display = [
        "number", "contractor", "issue_date", "due_date", "amount", "paid_amount",
        "currency", "outstanding_display", "pdf_link",
    ]
    list_filter = [OverdueFilter, "currency", "due_date"]
    search_fields = ["number", "contractor__name", "contractor__tax_id"]
    list_select_related = ["contractor"]
    autocomplete_fields = ["contractor"]
    date_hierarchy = "issue_date"
    actions = ["send_payment_reminders", "send_payment_reminders_force"]

    def reminders_for(self, queryset, as_of):
        return reminders_for_invoices(queryset, as_of)

    def contractor_keys(self, queryset):
        # In the background a contractor's reminder lists all their overdue invoices.
        overdue = queryset.overdue(timezone.localdate()).order_by("contractor_id")
        return list(overdue.values_list("contractor_id", flat=True).distinct())

    @admin.display(description=_("outstanding"))
    def outstanding_display(self, invoice):
        return invoice.outstanding

    @admin.display(description="PDF")
    def pdf_link(self, invoice):
        url = reverse(f"{self.admin_site.name}:sales_invoice_pdf", args=[invoice.pk])
        return format_html('<a href="{}">{}</a>', url, invoice_filename(invoice))

    def get_urls(self):
        return [
            path("<int:pk>/pdf/", self.admin_site.admin_view(self.pdf_view),
                 name="sales_invoice_pdf"),
            *super().get_urls(),
        ]

    def pdf_view(self, request, pk):
        """Show the invoice PDF (read-only: view permission is enough)."""
        invoice = get_object_or_404(Invoice.objects.select_related("contractor"), pk=pk)
        if not self.has_view_permission(request, invoice):
            raise PermissionDenied
        response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{invoice_filename(invoice)}"'
        return response
