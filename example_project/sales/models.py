"""Sales data: our company, contractors and their invoices (declarative only)."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from symfonia_mail.validators import parse_address_list, validate_address_list


class Company(models.Model):
    """Our company, the seller printed on invoices (the first row is used)."""

    name = models.CharField(_("name"), max_length=255)
    tax_id = models.CharField(_("tax ID (NIP)"), max_length=20, blank=True)
    address = models.TextField(_("address"), blank=True)
    bank_account = models.CharField(_("bank account"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("company")

    def __str__(self):
        return self.name

    @classmethod
    def current(cls):
        """Return our company, or an unsaved placeholder when none is entered yet."""
        return cls.objects.order_by("pk").first() or cls(name=str(_("(company not set)")))


class Contractor(models.Model):
    """A customer (kontrahent) who receives invoices and payment reminders."""

    name = models.CharField(_("name"), max_length=255)
    tax_id = models.CharField(_("tax ID (NIP)"), max_length=20, blank=True, db_index=True)
    emails = models.TextField(
        _("e-mail addresses"), blank=True, validators=[validate_address_list],
        help_text=_("Where reminders go; several addresses separated by commas."),
    )
    address = models.TextField(_("address"), blank=True)

    class Meta:
        verbose_name = _("contractor")
        verbose_name_plural = _("contractors")
        ordering = ["name", "pk"]

    def __str__(self):
        return self.name

    def email_list(self):
        return parse_address_list(self.emails)


class InvoiceQuerySet(models.QuerySet):
    def overdue(self, as_of):
        """Return the invoices due before *as_of* with something left to pay."""
        return self.filter(due_date__lt=as_of, paid_amount__lt=F("amount"))


class Invoice(models.Model):
    """A sales invoice (faktura VAT) of a contractor."""

    class Currency(models.TextChoices):
        PLN = "PLN", "PLN"
        EUR = "EUR", "EUR"
        USD = "USD", "USD"

    contractor = models.ForeignKey(
        Contractor, verbose_name=_("contractor"), on_delete=models.PROTECT,
        related_name="invoices",
    )
    number = models.CharField(
        _("number"), max_length=64, unique=True, help_text=_("For example FV/12/2026."),
    )
    issue_date = models.DateField(_("issue date"))
    due_date = models.DateField(_("due date"), db_index=True)
    description = models.CharField(
        _("description"), max_length=255, blank=True, default="",
        help_text=_("What was sold; printed as the invoice line."),
    )
    amount = models.DecimalField(
        _("amount (gross)"), max_digits=12, decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    paid_amount = models.DecimalField(
        _("paid amount"), max_digits=12, decimal_places=2, default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0.00"))],
    )
    currency = models.CharField(
        _("currency"), max_length=3, choices=Currency.choices, default=Currency.PLN
    )

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-issue_date", "-pk"]

    def __str__(self):
        return self.number

    def clean(self):
        super().clean()
        errors = {}
        if self.issue_date and self.due_date and self.due_date < self.issue_date:
            errors["due_date"] = _("The due date cannot be before the issue date.")
        if self.amount is not None and self.paid_amount is not None and (
            self.paid_amount > self.amount
        ):
            errors["paid_amount"] = _("The paid amount cannot exceed the amount.")
        if errors:
            raise ValidationError(errors)

    @property
    def outstanding(self):
        return max(self.amount - self.paid_amount, Decimal("0.00"))

    def is_overdue(self, as_of):
        return self.due_date < as_of and self.outstanding > 0

    def days_overdue(self, as_of):
        return max((as_of - self.due_date).days, 0)
