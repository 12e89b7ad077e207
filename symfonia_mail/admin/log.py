"""The delivery log and the payment reminders sent: read-only."""

import re

from django.contrib import admin
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from ..models import MailLog, ReminderRecord
from ..problems import CODES
from .base import ADMIN_MEDIA_CSS, ScopeFilter
from .delivery import delivery_label, events_table
from .outbox_actions import OutboxActionsMixin
from .own_rows import OwnRowsMixin

# Python's spelling of an SMTP reply: "(550, b'5.1.1 User unknown')" and b'...' literals.
_CLASS_PREFIX_RE = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception|Refused|Disconnected)): ")
_BYTES_RE = re.compile(r"""\bb(['"])(.*?)(?<!\\)\1""")
_REPLY_RE = re.compile(
    r"""['"]?([^'"\s{},]+@[^'"\s{},]+)['"]?: \((\d{3}), (['"])(.*?)(?<!\\)\3\)""")


def readable_error(text):
    """Return *text* (a logged error) without Python's spelling of classes, bytes and tuples."""
    text = _CLASS_PREFIX_RE.sub("", (text or "").strip())
    text = _BYTES_RE.sub(lambda m: m.group(1) + m.group(2) + m.group(1), text)
    text = _REPLY_RE.sub(lambda m: f"{m.group(1)}: {m.group(2)} {m.group(4)}", text)
    text = text.replace("\\n", "\n").replace("\\r", "")
    if text.startswith("{") and text.endswith("}") and "@" in text:
        text = text[1:-1]
    if "CERTIFICATE_VERIFY_FAILED" in text:
        text += "\n" + str(CODES["certificate_not_trusted"])
    return text


class _ReadOnlyRecordAdmin(OwnRowsMixin, admin.ModelAdmin):
    """A record of what was sent: nobody edits it; staff see only what they sent."""

    owner_field = "sent_by"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MailLog)
class MailLogAdmin(OutboxActionsMixin, _ReadOnlyRecordAdmin):
    """The delivery log, read-only; a non-superuser sees the messages they sent."""

    actions = ["resend_messages", "cancel_messages"]
    # Five narrow columns fit beside the admin's two sidebars at 1400 px: the recipients and
    # who sent sit under the subject, the first line of a problem under the status.
    list_display = ["created_short", "status_display", "delivery_display", "subject_short",
                    "server_display"]
    list_filter = ["status", "delivery", "kind", "created_at",
                   ("sent_by", admin.RelatedOnlyFieldListFilter), ScopeFilter]
    search_fields = ["recipients", "refused_recipients", "subject", "message_id"]
    # No date_hierarchy: its SELECT DISTINCT over every row cost ~0.5 s at 100,000 rows
    # (bench/bench_admin.py); the "time" filter above offers the usual periods.
    list_select_related = ["sent_by"]
    fieldsets = [
        (None, {"fields": ["created_at", "status", "kind", "attempts", "next_attempt_at",
                           "error_display", "note_display"]}),
        (_("Message"), {"fields": ["subject", "sender", "recipients", "refused_recipients",
                                   "message_id"]}),
        (_("Delivery"), {"fields": ["delivery", "delivery_events_display"]}),
        (_("Configuration"), {"fields": ["scope", "config_user", "sent_by", "transport",
                                         "server", "dsn_requested", "envelope_id"]}),
    ]

    readonly_fields = ["error_display", "note_display", "delivery_events_display"]

    class Media:
        css = ADMIN_MEDIA_CSS

    @admin.display(description=_("envelope recipients"), ordering="recipients")
    def recipients_short(self, obj):
        text = obj.recipients.replace("\n", ", ")
        return text if len(text) <= 70 else text[:69] + "…"

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj):
        """Return the status, with the first line of the problem beneath it."""
        problem = readable_error(obj.error).split("\n", 1)[0]
        if len(problem) > 90:
            problem = problem[:89] + "…"
        if not problem:
            return obj.get_status_display()
        return format_html('{}<div class="symfonia-problem" title="{}">{}</div>',
                           obj.get_status_display(), readable_error(obj.error), problem)

    @admin.display(description=_("delivery"), ordering="delivery")
    def delivery_display(self, obj):
        return delivery_label(obj)

    @admin.display(description=_("delivery reports"))
    def delivery_events_display(self, obj):
        return events_table(obj)

    @admin.display(description=_("time"), ordering="created_at")
    def created_short(self, obj):
        return date_format(timezone.localtime(obj.created_at), "SHORT_DATETIME_FORMAT")

    @admin.display(description=_("subject"), ordering="subject")
    def subject_short(self, obj):
        text = obj.subject if len(obj.subject) <= 90 else obj.subject[:89] + "…"
        kind = format_html('<span class="symfonia-kind">{}</span> ', obj.get_kind_display()) if (
            obj.kind == MailLog.Kind.TEST) else ""
        who = f" · {obj.sent_by}" if obj.sent_by_id else ""
        return format_html('{}{}<div class="symfonia-quiet">→ {}{}</div>', kind, text,
                           self.recipients_short(obj) or "-", who)

    @admin.display(description=_("server"), ordering="server")
    def server_display(self, obj):
        # Break after dots and before the port rather than cut a long name off.
        parts = obj.server.replace(".", ".\0").replace(":", "\0:").split("\0")
        return format_html_join(mark_safe("<wbr>"), "{}", ((part,) for part in parts))

    @admin.display(description=_("error"))
    def error_display(self, obj):
        return format_html('<div class="symfonia-error">{}</div>',
                           readable_error(obj.error) or "-")

    @admin.display(description=_("note"))
    def note_display(self, obj):
        return format_html('<div class="symfonia-error">{}</div>', obj.note or "-")


@admin.register(ReminderRecord)
class ReminderRecordAdmin(_ReadOnlyRecordAdmin):
    """Payment reminders sent (the no-duplicates record), read-only."""

    list_display = ["sent_at", "contractor_name", "documents_short", "recipients", "status",
                    "arrived", "sent_by"]
    list_filter = ["sent_on", "status", ("sent_by", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["contractor_name", "contractor_key", "documents", "recipients",
                     "message_id"]
    date_hierarchy = "sent_on"
    list_select_related = ["sent_by"]

    def get_queryset(self, request):
        # Whether each reminder arrived: its message's delivery, in the same query (a
        # subquery on the indexed MailLog.message_id), not one query per row.
        delivery = (MailLog.objects.filter(message_id=OuterRef("message_id"))
                    .exclude(message_id="").order_by("-id").values("delivery")[:1])
        return super().get_queryset(request).annotate(delivery=Subquery(delivery))

    @admin.display(description=_("arrived?"), ordering="delivery")
    def arrived(self, obj):
        return delivery_label(obj)

    @admin.display(description=_("documents"))
    def documents_short(self, obj):
        return ", ".join(obj.documents.split())

