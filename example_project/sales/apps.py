from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    """A small sales module (Symfonia's Handel): contractors, invoices, reminders."""

    name = "sales"
    verbose_name = _("Sales")
    default_auto_field = "django.db.models.BigAutoField"
