"""manage.py seed_demo: our company, ~30 contractors and ~200 invoices (idempotent)."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from sales import demo_data
from sales.models import Company, Contractor, Invoice
from symfonia_mail.models import GlobalMailConfig


class Command(BaseCommand):
    help = (
        "Create the demo sales data: our company, ~30 contractors (one without an e-mail, "
        "one whose mail server refuses the address) and ~200 invoices, a share overdue. "
        "Running it again creates nothing new (matched by tax ID and invoice number)."
    )

    @transaction.atomic
    def handle(self, *args, **options):
        company = Company.objects.order_by("pk").first()
        if company is None:
            company = Company.objects.create(**demo_data.COMPANY)
        config = GlobalMailConfig.get_solo()
        if not config.company_name:
            # {firma} in the reminders; the demo's own configuration may have set it.
            config.company_name = company.name
            config.save(update_fields=["company_name", "updated_at"])

        contractors, created_contractors = {}, 0
        for values in demo_data.contractors():
            tax_id = values.pop("tax_id")
            contractor, created = Contractor.objects.get_or_create(tax_id=tax_id, defaults=values)
            contractors[tax_id] = contractor
            created_contractors += created

        today = timezone.localdate()
        existing = set(Invoice.objects.values_list("number", flat=True))
        new = []
        for values in demo_data.invoices(today):
            if values["number"] in existing:
                continue
            values["contractor"] = contractors[values.pop("tax_id")]
            new.append(Invoice(**values))
        Invoice.objects.bulk_create(new)

        overdue = Invoice.objects.overdue(today)
        self.stdout.write(self.style.SUCCESS(
            f"Demo data: company {company.name!r}; contractors {Contractor.objects.count()} "
            f"({created_contractors} new); invoices {Invoice.objects.count()} ({len(new)} new), "
            f"{overdue.count()} overdue for "
            f"{overdue.values('contractor').distinct().count()} contractors."
        ))
