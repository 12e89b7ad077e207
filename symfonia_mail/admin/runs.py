"""Payment reminder runs sent in the background: their progress and result, read-only."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..models import ReminderRun
from .log import SentByFilter, _ReadOnlyRecordAdmin


@admin.register(ReminderRun)
class ReminderRunAdmin(_ReadOnlyRecordAdmin):
    """Progress (sent / partial / failed / skipped / remaining) of each reminder run."""

    list_display = ["created_at", "status", "sent_by", "total", "sent", "partial", "failed",
                    "skipped", "remaining_display", "finished_at"]
    list_filter = ["status", ("sent_by", SentByFilter)]
    date_hierarchy = "created_at"
    list_select_related = ["sent_by"]
    fields = ["created_at", "status", "sent_by", "total", "sent", "partial", "failed", "skipped",
              "remaining_display", "chunks_done", "progress_at", "finished_at", "error",
              "options"]
    readonly_fields = ["remaining_display"]

    def get_queryset(self, request):
        # The contractor keys and chunk counts can be long: the pages never show them.
        return super().get_queryset(request).defer("keys", "chunk_counts")

    @admin.display(description=_("remaining"))
    def remaining_display(self, obj):
        return obj.remaining
