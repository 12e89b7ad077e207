"""What both configuration admins share: write-only secrets, Show, Test SMTP, Reload.

Test SMTP and Reload scope act on the change form's unsaved values: the
buttons post the form (CSRF, change permission) and the page comes back with
the same or reloaded values and a report, nothing saved. Passwords are never
written into a page; "Show" is a POST endpoint through ``admin_view`` that
answers only the user who entered the password.
"""

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import csrf_protect_m
from django.contrib.admin.utils import flatten_fieldsets, quote, unquote
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.urls import path, reverse
from django.utils import translation
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from .. import certificates
from ..compat import DJANGO_61
from ..config import resolver
from ..diagnostics import smtp_test as diagnostics
from ..fields import UnreadableSecret
from ..models import Scope, Transport
from .forms import SECRET_FIELDS, secret_state
from .names import ReadableNamesMixin
from .oauth import OAuthAdminMixin
from .views import wants_json

if TYPE_CHECKING:  # django-stubs' name for the shape of ModelAdmin.fieldsets
    from django.contrib.admin.options import _FieldsetSpec

ADMIN_MEDIA_JS = ["symfonia_mail/admin.js", "symfonia_mail/admin_oauth.js"]
ADMIN_MEDIA_CSS = {"all": ["symfonia_mail/admin.css"]}

SMTP_FIELDSETS: "_FieldsetSpec" = [
    (_("Transport"), {"fields": ["transport"]}),
    (_("SMTP access"), {"fields": [
        "host", "port", "security", "verify_certificate", "ca_certificates",
        "ca_certificates_info", "timeout_ms", "max_connections",
    ]}),
    (_("Sign-in"), {"fields": [
        "auth_method", "username", "password", "clear_password", "oauth_tenant",
        "oauth_client_id", "oauth_client_secret", "clear_oauth_client_secret",
        "oauth_connection",
    ]}),
    (_("Sender"), {"fields": ["sender_email", "sender_name", "cc", "bcc"]}),
    (_("Delivery notifications"), {"fields": ["dsn_notify"]}),
    (_("Sending limit"), {"fields": ["rate_limit_per_minute"]}),
    (_("Attachments"), {"fields": ["attachment_password", "clear_attachment_password"]}),
    # The mailbox side: delivery reports read back, sent messages filed (DESIGN §11).
    (_("IMAP"), {"fields": [
        "imap_host", "imap_port", "imap_security", "imap_username", "imap_password",
        "clear_imap_password", "reports_folder", "sent_copy", "sent_folder",
    ], "description": _(
        "The mailbox of the sender address, read over IMAP: delivery reports and bounces "
        "arriving there are recorded in the mail log, and sent messages can be filed in its "
        "Sent folder. The certificate check, trusted certificates and timeout above apply "
        "here too.")}),
]


SCOPE_SHORT = {Scope.GLOBAL: _("common"), Scope.INDIVIDUAL: _("individual")}


class ScopeFilter(admin.SimpleListFilter):
    """Filter by scope with short labels (the full Symfonia wordings do not fit a sidebar)."""

    title = _("scope")
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return list(SCOPE_SHORT.items())

    def queryset(self, request, queryset):
        return queryset.filter(scope=self.value()) if self.value() else queryset


def field_msgids(form, names):
    """Return the untranslated names of *names* that the history translates when shown.

    Django stores form labels in English and translates them when it shows the
    history; a label through capfirst() ("Sender name") has no Polish entry, the
    model's verbose_name ("sender name") has.
    """
    opts = form._meta.model._meta
    result = []
    with translation.override(None):
        for name in names:
            try:
                label = opts.get_field(name).verbose_name
            except FieldDoesNotExist:
                field = form.fields.get(name)
                label = field.label if field is not None and field.label else name
            result.append(str(label))
    return result


class TranslatedHistoryMixin:
    """Write change-history lines that read in the viewer's language."""

    def construct_change_message(self, request, form, formsets, add=False):
        change_message = super().construct_change_message(request, form, formsets, add)
        for entry in change_message:
            if "changed" in entry and "fields" in entry["changed"]:
                entry["changed"]["fields"] = field_msgids(form, form.changed_data)
        return change_message


class MailSettingsAdmin(OAuthAdminMixin, TranslatedHistoryMixin, ReadableNamesMixin,
                        admin.ModelAdmin):
    """What both configuration admins share: secrets, Test SMTP, Reload, Show."""

    change_form_template = "admin/symfonia_mail/mailsettings_change_form.html"
    readonly_fields = ["password_state", "attachment_password_state", "ca_certificates_info",
                       "oauth_client_secret_state", "oauth_connection_state",
                       "imap_password_state"]
    # True: a scope selector with its Reload button. The global page has no scope to
    # choose, so no Reload either (it would only throw unsaved changes away).
    has_scope = False
    add_title = _("New mail configuration")

    class Media:
        js = ADMIN_MEDIA_JS
        css = ADMIN_MEDIA_CSS

    # --- fields ----------------------------------------------------------------

    @admin.display(description=_("trusted certificates"))
    def ca_certificates_info(self, obj):
        """Show the subject and expiry of each stored trusted CA certificate."""
        try:
            found = certificates.parse(getattr(obj, "ca_certificates", "") or "")
        except ValueError:
            return gettext("The stored text is not a PEM certificate.")
        if not found:
            return gettext("None: the system trust store is used.")
        return format_html("<ul class=\"symfonia-certificates\">{}</ul>", format_html_join(
            "", "<li>{} — {}</li>", (
                (info.subject, (gettext("expired on %(date)s") if info.expired else gettext(
                    "valid until %(date)s")) % {"date": f"{info.not_after:%Y-%m-%d}"})
                for info in found)))

    @admin.display(description=_("password"))
    def password_state(self, obj):
        return secret_state(obj, "password", editable=False)

    @admin.display(description=_("attachment password"))
    def attachment_password_state(self, obj):
        return secret_state(obj, "attachment_password", editable=False)

    @admin.display(description=_("IMAP password"))
    def imap_password_state(self, obj):
        return secret_state(obj, "imap_password", editable=False)

    def get_fieldsets(self, request, obj=None):
        fieldsets = [(name, {**options, "fields": list(options["fields"])})
                     for name, options in super().get_fieldsets(request, obj)]
        if obj is not None and not self.has_change_permission(request, obj):
            # A view-only page displays field values: show secrets' state, not secrets.
            for _name, options in fieldsets:
                options["fields"] = [
                    f"{f}_state" if f in (*SECRET_FIELDS, "oauth_connection") else f
                    for f in options["fields"]
                    if not f.startswith("clear_") and f != "showing"
                ]
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)

        def show_url_for(name):
            if obj is None or not self.may_show_secret(request, obj, name):
                return ""
            return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_show_secret",
                           args=[obj.pk, name], current_app=self.admin_site.name)

        return type(form.__name__, (form,), {
            "editor": request.user, "show_url_for": staticmethod(show_url_for)})

    def save_model(self, request, obj, form, change):
        self.prepare_instance(request, obj)
        super().save_model(request, obj, form, change)
        if (obj.transport == Transport.MICROSOFT_GRAPH and obj.username and obj.sender_email
                and obj.username.lower() != obj.sender_email.lower()):
            # Graph sends as the mailbox in the URL; another From needs Send As rights.
            self.message_user(request, gettext(
                "Microsoft Graph sends as the mailbox %(mailbox)s: the sender address "
                "%(sender)s must be an address that mailbox may send as (Send As "
                "permission in Exchange), or every message is refused "
                "(ErrorSendAsDenied).") % {"mailbox": obj.username,
                                            "sender": obj.sender_email},
                messages.WARNING)

    def prepare_instance(self, request, obj):
        """Complete an instance the form does not fully set (e.g. its user)."""

    # --- Show ------------------------------------------------------------------

    def may_show_secret(self, request, obj, name):
        """Return True when *request.user* entered the stored secret and may change *obj*."""
        value = getattr(obj, name, "")
        return bool(
            value and not isinstance(value, UnreadableSecret)
            and getattr(obj, f"{name}_set_by_id", None) == request.user.pk
            and self.has_change_permission(request, obj)
        )

    def get_urls(self):
        return [
            path("<path:object_id>/show-secret/<str:name>/",
                 self.admin_site.admin_view(self.show_secret_view),
                 name=f"{self.opts.app_label}_{self.opts.model_name}_show_secret"),
            *super().get_urls(),
        ]

    @method_decorator(never_cache)
    @method_decorator(require_POST)
    def show_secret_view(self, request, object_id, name):
        """Return the stored secret as JSON, to the user who entered it only (POST)."""
        if name not in SECRET_FIELDS:
            raise Http404
        obj = self.get_object(request, unquote(object_id))
        if obj is None or obj.pk is None:
            raise Http404
        if not self.may_show_secret(request, obj, name):
            raise PermissionDenied
        return JsonResponse({"value": getattr(obj, name)})

    # --- change form: Test SMTP and Reload scope ----------------------------------

    @csrf_protect_m
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST":
            if "_test_smtp" in request.POST:
                return self.test_smtp_view(request, object_id, form_url)
            if "_reload_scope" in request.POST:
                if not self.has_scope:  # no scope to reload here; never save instead
                    return HttpResponseBadRequest()
                return self.reload_scope_view(request, object_id, form_url)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="",
                           obj=None):
        allowed = self.has_add_permission(request) if add else (
            self.has_change_permission(request, obj))
        context["mail_buttons"] = allowed
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _editable(self, request, object_id):
        """Return the object to act on (None when adding), checking the permission."""
        if object_id is None:
            if not self.has_add_permission(request):
                raise PermissionDenied
            return None
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def _form_class(self, request, obj):
        fieldsets = self.get_fieldsets(request, obj)
        return self.get_form(request, obj, change=obj is not None,
                             fields=flatten_fieldsets(fieldsets))

    def test_smtp_view(self, request, object_id, form_url=""):
        """Run Test SMTP on the values in the posted form, unsaved."""
        obj = self._editable(request, object_id)
        form = self._form_class(request, obj)(request.POST, request.FILES, instance=obj)
        self.prepare_instance(request, form.instance)
        if form.is_valid():
            report = diagnostics.run_smtp_test(self.config_under_test(form), user=request.user)
            level, text = report.level, report.as_html()
        else:
            level = messages.ERROR
            text = gettext("Correct the errors in the form before testing.")
        if wants_json(request):
            return JsonResponse({
                "level": messages.DEFAULT_TAGS.get(level, "info"), "html": str(text),
                "errors": form.errors.get_json_data(),
            })
        self.message_user(request, text, level)
        return self.render_unsaved(request, obj, form, form_url)

    def config_under_test(self, form):
        """Return the ResolvedConfig of the form's unsaved values."""
        return resolver.from_model(form.instance)

    def reload_scope_view(self, request, object_id, form_url=""):
        """Fill the form with the stored values of the chosen scope; save nothing."""
        obj = self._editable(request, object_id)
        form, text = self.reloaded_form(request, obj)
        self.message_user(request, text, messages.INFO)
        return self.render_unsaved(request, obj, form, form_url)

    def reloaded_form(self, request, obj):
        form = self._form_class(request, obj)(instance=obj)
        return form, gettext("Loaded the stored values; unsaved changes were discarded.")

    def render_unsaved(self, request, obj, form, form_url=""):
        """Render the change (or add) form around *form* as the admin would.

        Django has no public way to render a change form around a form it did
        not build itself, so this adapter builds the context that
        ``ModelAdmin.changeform_view`` hands to ``render_change_form`` (the
        public seam both go through). tests/test_admin_adapter.py fails when
        Django's context gains or loses a key, in every Django version tested.
        """
        add = obj is None
        fieldsets = self.get_fieldsets(request, obj)
        admin_form = helpers.AdminForm(
            form, list(fieldsets), self.get_prepopulated_fields(request, obj),
            self.get_readonly_fields(request, obj), model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": capfirst(self.opts.verbose_name),  # render_change_form refines it
            "subtitle": str(obj) if obj is not None else None,
            "adminform": admin_form,
            "object_id": None if add else quote(str(obj.pk)),  # as in the URL
            "original": obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
        }
        if DJANGO_61:  # change-form actions: none offered on a form that is not saved yet
            context.update(source_model=None, action_form=None,
                           action_checkbox_name=helpers.ACTION_CHECKBOX_NAME)
        return self.render_change_form(request, context, add=add, change=not add,
                                       form_url=form_url, obj=obj)
