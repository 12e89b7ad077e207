"""The delivery log and the payment reminders sent: read-only."""

import functools
import re

from django.conf import settings
from django.contrib import admin
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, override
from django.utils.translation import gettext_lazy as _

from ..diagnostics.report import SmtpTestReport
from ..hints import CODES
from ..models import MailLog, ReminderRecord
from ..problems import render_problem
from .base import ADMIN_MEDIA_CSS, ScopeFilter
from .delivery import delivery_label, events_table
from .names import ReadableNamesMixin
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


# A Test SMTP row's error: "[FAILED] STARTTLS (2.8 ms): detail", the replies, "Hint: ...".
_STEP_LINE_RE = re.compile(r"^\[[^\]]+\] (?P<step>.+?) \([\d.,]+ ms\)")


@functools.cache
def _hint_prefixes():
    """Return "Hint:" in every language of the site (a row keeps its writer's language)."""
    prefixes = set()
    for code, _name in settings.LANGUAGES:
        with override(code):
            prefixes.add(gettext("Hint:"))
    return tuple(prefixes)


def problem_excerpt(text):
    """Return one line saying what went wrong: for a Test SMTP row, the step and its cause."""
    lines = [line.strip() for line in readable_error(text).split("\n") if line.strip()]
    if not lines:
        return ""
    step = _STEP_LINE_RE.match(lines[0])
    if step is None:
        return lines[0]
    hints = _hint_prefixes()
    causes = [line for line in lines[1:] if not line.startswith(hints)]
    if not causes:  # a configuration problem: no reply, only the hint says why
        causes = [line.split(":", 1)[1].strip() for line in lines[1:]]
    return f"{step['step']}: {causes[-1]}" if causes else lines[0]


class SentByFilter(admin.RelatedOnlyFieldListFilter):
    """Who sent: the rows nobody sent (no user) are named, not shown as "-"."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.empty_value_display = _("nobody (a script or scheduled task)")


def stored_report(obj):
    """Return the Test SMTP report of a MailLog row, in the active language (or None)."""
    if obj.kind == MailLog.Kind.TEST and "test" in (obj.problem or {}):
        return SmtpTestReport.from_record(obj.problem)
    return None


def shown_error(obj):
    """Return the problem of a MailLog row in the reader's language.

    ``error`` is English (logs); ``problem`` holds codes and parameters. Rows
    written before it existed show ``error``.
    """
    report = stored_report(obj)
    if report is not None:
        failure = report.failure
        return "" if failure is None else "\n".join(
            line.strip() for line in report.step_lines(failure))
    if obj.problem:
        return readable_error(render_problem(obj.problem))
    return readable_error(obj.error)


class _ReadOnlyRecordAdmin(OwnRowsMixin, ReadableNamesMixin, admin.ModelAdmin):
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
    # Four columns fit beside the admin's two sidebars at 1366 px: the recipients and who
    # sent sit under the subject; the delivery state and the first line of a problem under
    # the status.
    list_display = ["created_short", "status_display", "subject_short", "server_display"]
    list_filter = ["status", "delivery", "kind", "created_at", ("sent_by", SentByFilter),
                   ScopeFilter]
    search_fields = ["recipients", "refused_recipients", "subject", "message_id"]
    # No date_hierarchy: its SELECT DISTINCT over every row cost ~0.5 s at 100,000 rows
    # (bench/bench_admin.py); the "time" filter above offers the usual periods.
    list_select_related = ["sent_by"]
    fieldsets = [
        (None, {"fields": ["created_at", "status", "kind", "attempts", "next_attempt_at",
                           "error_display", "note_display"]}),
        (_("Message"), {"fields": ["subject_display", "sender", "recipients",
                                   "refused_recipients", "message_id"]}),
        (_("Delivery"), {"fields": ["delivery", "delivery_events_display"]}),
        (_("Configuration"), {"fields": ["scope", "config_user", "sent_by", "transport",
                                         "server", "dsn_requested", "envelope_id"]}),
    ]

    readonly_fields = ["error_display", "note_display", "subject_display",
                       "delivery_events_display"]

    class Media:
        css = ADMIN_MEDIA_CSS

    @admin.display(description=_("envelope recipients"), ordering="recipients")
    def recipients_short(self, obj):
        text = obj.recipients.replace("\n", ", ")
        return text if len(text) <= 70 else text[:69] + "…"

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj):
        """Return the status as a badge, its delivery state beside it, the problem beneath.

        The delivery state shares the status column: a column of its own would push the
        list past a 1366 px screen (its filter stays in the sidebar).
        """
        badge = format_html('<span class="symfonia-status symfonia-status-{}">{}</span>',
                            obj.status, obj.get_status_display())
        if obj.delivery:
            badge = format_html("{} {}", badge, delivery_label(obj))
        full = shown_error(obj)  # in the reader's language
        problem = problem_excerpt(full)
        if len(problem) > 90:
            problem = problem[:89] + "…"
        if not problem:
            return badge
        return format_html('{}<div class="symfonia-problem" title="{}">{}</div>',
                           badge, full, problem)

    @admin.display(description=_("delivery"), ordering="delivery")
    def delivery_display(self, obj):
        return delivery_label(obj)

    @admin.display(description=_("delivery reports"))
    def delivery_events_display(self, obj):
        return events_table(obj)

    @admin.display(description=_("time"), ordering="created_at")
    def created_short(self, obj):
        # The time may go under the date: "10:35 a.m." is wider than "9:35 a.m.", and
        # from 10 o'clock on the list would no longer fit 1366 px.
        moment = timezone.localtime(obj.created_at)
        return format_html('<span class="symfonia-nowrap">{}</span> '
                           '<span class="symfonia-nowrap">{}</span>',
                           date_format(moment, "SHORT_DATE_FORMAT"),
                           date_format(moment, "TIME_FORMAT"))

    @admin.display(description=_("subject"))
    def subject_display(self, obj):
        report = stored_report(obj)
        return report.headline() if report is not None else obj.subject

    @admin.display(description=_("subject"), ordering="subject")
    def subject_short(self, obj):
        subject = self.subject_display(obj)
        text = subject if len(subject) <= 90 else subject[:89] + "…"
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
        return format_html('<div class="symfonia-error">{}</div>', shown_error(obj) or "-")

    @admin.display(description=_("note"))
    def note_display(self, obj):
        report = stored_report(obj)
        note = "\n".join(report.summary().splitlines()[1:]) if report is not None else obj.note
        return format_html('<div class="symfonia-error">{}</div>', note or "-")


@admin.register(ReminderRecord)
class ReminderRecordAdmin(_ReadOnlyRecordAdmin):
    """Payment reminders sent (the no-duplicates record), read-only."""

    list_display = ["sent_at", "contractor_name", "documents_short", "recipients", "status",
                    "arrived", "sent_by"]
    list_filter = ["sent_on", "status", ("sent_by", SentByFilter)]
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

