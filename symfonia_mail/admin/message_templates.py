"""Message templates: by key and owner, with the macro reference and the preview."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.urls import path
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import kinds
from ..content import templated
from ..models import MessageTemplate
from . import views
from .base import ADMIN_MEDIA_CSS, TranslatedHistoryMixin
from .forms import MessageTemplateForm, OwnMessageTemplateForm
from .names import ReadableNamesMixin
from .own_rows import OwnRowsMixin

MACRO_HELP = (
    ("{numer}", _("document number")),
    ("{numery}", _("document numbers (a list, joined with commas)")),
    ("{umowa}", _("contract number")),
    ("{z dnia}", _("document date")),
    ("{kontrahent}", _("the document's recipient (contractor)")),
    ("{firma}", _("our company name (global configuration)")),
    ("{wysyłający}", _("who sends: the sending user's full name, else the sender name")),
    ("{data od}", _("contract valid from")),
    ("{data do}", _("contract valid until")),
    ("{wystawiający}", _("who issued the document")),
)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(OwnRowsMixin, TranslatedHistoryMixin, ReadableNamesMixin,
                           admin.ModelAdmin):
    """Templates by key and owner; a non-superuser edits their own, reads the global ones."""

    add_title = _("New message template")
    owner_field = "owner"
    show_unowned = True

    change_form_template = "admin/symfonia_mail/messagetemplate_change_form.html"
    list_display = ["key", "owner_display", "subject", "updated_at"]
    list_filter = ["key"]
    search_fields = ["key", "subject", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["macro_reference"]

    class Media:
        css = ADMIN_MEDIA_CSS
        js = ["symfonia_mail/template_defaults.js"]

    @admin.display(description=_("owner"), ordering="owner")
    def owner_display(self, obj):
        return obj.owner or gettext("(global)")

    @admin.display(description=_("Macros"))
    def macro_reference(self, obj=None):
        return format_html('<table class="symfonia-macros"><tbody>{}</tbody></table>',
                           format_html_join("", "<tr><th><code>{}</code></th><td>{}</td></tr>",
                                            MACRO_HELP))

    def get_fieldsets(self, request, obj=None):
        fields = ["key", "owner", "subject", ("body", "macro_reference")]
        if not request.user.is_superuser and (obj is None or self.has_change_permission(
                request, obj)):
            fields.remove("owner")
        return [(None, {"fields": fields})]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if request.user.is_superuser:
            kwargs["form"] = MessageTemplateForm
            return super().get_form(request, obj, change, **kwargs)
        kwargs["form"] = OwnMessageTemplateForm
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"owner_user": request.user})

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.owner = request.user
        super().save_model(request, obj, form, change)
        for warning in getattr(form, "warnings", ()):
            self.message_user(request, warning, messages.WARNING)

    def get_changeform_initial_data(self, request):
        """Start an added template from the built-in text of ``?key=`` (a registered kind)."""
        initial = super().get_changeform_initial_data(request)
        key = initial.get("key")
        if key and kinds.get(key) is not None and not (
                initial.get("subject") or initial.get("body")):
            initial["subject"], initial["body"] = templated.built_in_text(key)
        return initial

    def built_in_text_view(self, request):
        """Return the built-in subject and body of ``?key=`` as JSON (the Add page's script)."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        key = request.GET.get("key", "")
        if kinds.get(key) is None:
            raise Http404
        subject, body = templated.built_in_text(key)
        return JsonResponse({"subject": subject, "body": body})

    def get_urls(self):
        return [
            path("built-in-text/", self.admin_site.admin_view(self.built_in_text_view),
                 name="symfonia_mail_messagetemplate_built_in_text"),
            path("preview/", self.admin_site.admin_view(views.template_preview),
                 name="symfonia_mail_messagetemplate_preview"),
            path("preview/<str:token>/html/",
                 self.admin_site.admin_view(views.template_preview_html),
                 name="symfonia_mail_messagetemplate_preview_html"),
            *super().get_urls(),
        ]
