"""The mail log's delivery column and each recipient's delivery events, in plain words."""

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from ..models import DeliveryEvent, MailLog
from ..tracking.status_codes import hint

Delivery = MailLog.Delivery

# Words first; the colour only repeats them (symfonia-delivery-* in admin.css).
LIST_WORDS = {
    Delivery.DELIVERED: _("delivered"),
    Delivery.DELAYED: _("delayed, still trying"),
    Delivery.BOUNCED: _("bounced"),
    Delivery.PARTLY_BOUNCED: _("bounced for some recipients"),
}


def delivery_label(maillog):
    """Return the delivery state of *maillog* as a labelled word; "-" when nothing is known."""
    words = LIST_WORDS.get(maillog.delivery)
    if words is None:
        return "-"
    return format_html('<span class="symfonia-delivery symfonia-delivery-{}">{}</span>',
                       maillog.delivery, words)


def events_table(maillog):
    """Return an HTML table of *maillog*'s delivery events: who, what, when, why."""
    events = list(maillog.delivery_events.order_by("reported_at", "id"))
    if not events:
        return format_html('<p class="symfonia-quiet">{}</p>',
                           _("No delivery report has come back for this message yet."))
    rows = format_html_join("", (
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        '<td><div>{}</div><div class="symfonia-quiet">{}</div></td></tr>'
    ), ((event.recipient, _event_words(event),
         date_format(timezone.localtime(event.reported_at), "SHORT_DATETIME_FORMAT"),
         event.get_source_display(), hint(event.status) or "-",
         _plain_diagnostic(event)) for event in events))
    return format_html(
        '<table class="symfonia-events"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
        "<th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
        _("recipient"), _("what happened"), _("when"), _("reported by"), _("why"), rows)


def _event_words(event):
    words = event.get_action_display()
    if event.status:
        words = f"{words} ({event.status})"
    css = "failed" if event.action == DeliveryEvent.Action.FAILED else event.action
    return format_html('<span class="symfonia-delivery symfonia-delivery-{}">{}</span>',
                       css, words)


def _plain_diagnostic(event):
    """Return the remote server's reply without its type prefix ("smtp; 550 …")."""
    text = event.diagnostic.strip()
    kind, sep, rest = text.partition(";")
    if sep and kind.strip().lower() in ("smtp", "x-postfix", "x-unix", "x-local"):
        text = rest.strip()
    return text or "-"
