"""Mail log actions for background sending: resend failed/unknown, cancel queued.

Both ask for confirmation on an intermediate page (POST, like Django's
"delete selected") and act only on the rows the user may see.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..background import outbox

CONFIRM_TEMPLATE = "admin/symfonia_mail/maillog/confirm_outbox_action.html"


class OutboxActionsMixin:
    """Resend and cancel actions for the MailLog admin."""

    def has_resend_permission(self, request):
        return request.user.has_perm("symfonia_mail.change_maillog")

    @admin.action(description=_("Resend the selected failed or unknown messages"),
                  permissions=["resend"])
    def resend_messages(self, request, queryset):
        return self._confirmed(
            request, queryset, outbox.resendable(queryset), "resend_messages",
            _("These messages will be sent again. A message whose state is unknown may "
              "already have reached the recipient: resend it only if you checked."),
            lambda chosen: len(outbox.resend(chosen)),
            lambda count: ngettext("%(count)d message queued again.",
                                   "%(count)d messages queued again.", count))

    @admin.action(description=_("Cancel the selected queued messages"),
                  permissions=["resend"])
    def cancel_messages(self, request, queryset):
        return self._confirmed(
            request, queryset, queryset.filter(status__in=outbox.CANCELLABLE),
            "cancel_messages",
            _("These messages will not be sent. A message already being sent cannot be "
              "cancelled."),
            outbox.cancel,
            lambda count: ngettext("%(count)d message cancelled.",
                                   "%(count)d messages cancelled.", count))

    def _confirmed(self, request, queryset, chosen, action, warning, act, done):
        """Ask to confirm *action* on *chosen*; once confirmed, *act* and report *done*."""
        if request.POST.get("post") != "yes":
            return self._confirm(request, queryset, chosen, action, warning)
        count = act(chosen)
        self.message_user(request, done(count) % {"count": count}, messages.SUCCESS)
        return None

    def _confirm(self, request, queryset, chosen, action, warning):
        chosen = list(chosen.order_by("-created_at")[:200])
        context = {
            **self.admin_site.each_context(request),
            "title": _("Are you sure?"),
            "opts": self.opts,
            "action": action,
            "action_name": dict((name, str(label)) for name, label in
                                self.get_action_choices(request))[action],
            "warning": warning,
            "chosen": chosen,
            "skipped": queryset.count() - len(chosen),
            "queryset": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, CONFIRM_TEMPLATE, context)
