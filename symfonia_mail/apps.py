from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SymfoniaMailConfig(AppConfig):
    name = "symfonia_mail"
    verbose_name = _("Mail configuration")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Imported for their side effects, once the models are loaded: the system
        # checks register themselves, the resolver connects its cache invalidation,
        # the reminder runs and the report fetching take their part of the workers'
        # sweep.
        from . import checks  # noqa: F401
        from .config import resolver  # noqa: F401
        from .reminders import runs  # noqa: F401
        from .reports import fetching  # noqa: F401
