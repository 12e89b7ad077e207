from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SymfoniaMailConfig(AppConfig):
    name = "symfonia_mail"
    verbose_name = _("Mail configuration")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Register checks and signal handlers (reminder_runs, reports.fetching: the
        # workers' sweep).
        from . import checks, reminder_runs, resolver  # noqa: F401
        from .reports import fetching  # noqa: F401
