"""The delivery log and the payment reminders sent: read-only."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..models import MailLog, ReminderRecord
from .base import ScopeFilter


class _ReadOnlyRecordAdmin(admin.ModelAdmin):
    """A record of what was sent: nobody edits it; staff see only what they sent."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(sent_by=request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MailLog)
class MailLogAdmin(_ReadOnlyRecordAdmin):
    """The delivery log, read-only; a non-superuser sees the messages they sent."""

    list_display = ["created_at", "status", "subject", "recipients_short", "sent_by", "server"]
    list_filter = ["status", "created_at", ("sent_by", admin.RelatedOnlyFieldListFilter),
                   ScopeFilter]
    search_fields = ["recipients", "refused_recipients", "subject", "message_id"]
    date_hierarchy = "created_at"
    list_select_related = ["sent_by"]
    fieldsets = [
        (None, {"fields": ["created_at", "status", "error", "note"]}),
        (_("Message"), {"fields": ["subject", "sender", "recipients", "refused_recipients",
                                   "message_id"]}),
        (_("Configuration"), {"fields": ["scope", "config_user", "sent_by", "transport",
                                         "server", "dsn_requested", "envelope_id"]}),
    ]

    @admin.display(description=_("envelope recipients"), ordering="recipients")
    def recipients_short(self, obj):
        text = obj.recipients.replace("\n", ", ")
        return text if len(text) <= 80 else text[:79] + "…"


@admin.register(ReminderRecord)
class ReminderRecordAdmin(_ReadOnlyRecordAdmin):
    """Payment reminders sent (the no-duplicates record), read-only."""

    list_display = ["sent_at", "contractor_name", "documents_short", "recipients", "status",
                    "sent_by"]
    list_filter = ["sent_on", "status", ("sent_by", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["contractor_name", "contractor_key", "documents", "recipients",
                     "message_id"]
    date_hierarchy = "sent_on"
    list_select_related = ["sent_by"]

    @admin.display(description=_("documents"))
    def documents_short(self, obj):
        return ", ".join(obj.documents.split())

