"""Django admin: Symfonia's "Mail configuration" window, thin and safe.

Test SMTP and Reload scope act on the change form's unsaved values: the
buttons post the form (CSRF, change permission) and the page comes back with
the same or reloaded values and a report, nothing saved. Passwords are never
written into a page; "Show" is a POST endpoint through ``admin_view`` that
answers only the user who entered the password.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import csrf_protect_m
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from . import diagnostics, resolver, views
from .fields import UnreadableSecret
from .forms import (
    SECRET_FIELDS,
    GlobalMailConfigForm,
    MessageTemplateForm,
    OwnMessageTemplateForm,
    UserMailConfigForm,
    secret_state,
)
from .models import GlobalMailConfig, MailLog, MessageTemplate, Scope, UserMailConfig

ADMIN_MEDIA_JS = ["symfonia_mail/admin.js"]
ADMIN_MEDIA_CSS = {"all": ["symfonia_mail/admin.css"]}

SMTP_FIELDSETS = [
    (_("Transport"), {"fields": ["transport"]}),
    (_("SMTP access"), {"fields": [
        "host", "port", "security", "verify_certificate", "timeout_ms", "username",
        "password", "clear_password",
    ]}),
    (_("Sender"), {"fields": ["sender_email", "sender_name", "cc", "bcc"]}),
    (_("Delivery notifications"), {"fields": ["dsn_notify"]}),
    (_("Attachments"), {"fields": ["attachment_password", "clear_attachment_password"]}),
]


def _wants_json(request):
    return "application/json" in request.headers.get("Accept", "")


class MailSettingsAdmin(admin.ModelAdmin):
    """What both configuration admins share: secrets, Test SMTP, Reload, Show."""

    change_form_template = "admin/symfonia_mail/mailsettings_change_form.html"
    readonly_fields = ["password_state", "attachment_password_state"]

    class Media:
        js = ADMIN_MEDIA_JS
        css = ADMIN_MEDIA_CSS

    # --- fields ----------------------------------------------------------------

    @admin.display(description=_("password"))
    def password_state(self, obj):
        return secret_state(obj, "password")

    @admin.display(description=_("attachment password"))
    def attachment_password_state(self, obj):
        return secret_state(obj, "attachment_password")

    def get_fieldsets(self, request, obj=None):
        fieldsets = [(name, {**options, "fields": list(options["fields"])})
                     for name, options in super().get_fieldsets(request, obj)]
        if obj is not None and not self.has_change_permission(request, obj):
            # A view-only page displays field values: show secrets' state, not secrets.
            for _name, options in fieldsets:
                options["fields"] = [
                    f"{f}_state" if f in SECRET_FIELDS else f
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
    def show_secret_view(self, request, object_id, name):
        """Return the stored secret as JSON, to the user who entered it only (POST)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
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
                return self.reload_scope_view(request, object_id, form_url)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="",
                           obj=None):
        allowed = self.has_add_permission(request) if add else (
            self.has_change_permission(request, obj))
        context["mail_buttons"] = allowed
        context["reload_in_form"] = self.reload_in_form
        # Django's "Change %s" does not decline in Polish ("Zmień wspólna konfiguracja").
        context["title"] = self.add_title if add else capfirst(self.opts.verbose_name)
        return super().render_change_form(request, context, add, change, form_url, obj)

    reload_in_form = False  # True: the Reload button sits next to the scope selector
    add_title = _("New mail configuration")

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
        if _wants_json(request):
            return JsonResponse({
                "level": messages.DEFAULT_TAGS.get(level, "info"), "html": str(text),
                "errors": form.errors.get_json_data(),
            })
        self.message_user(request, text, level)
        return self.render_unsaved(request, obj, form, form_url)

    def config_under_test(self, form):
        """Return the ResolvedConfig of the form's unsaved values."""
        return resolver.from_settings(form.instance)

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
        """Render the change (or add) form around *form* as the admin would."""
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
            "object_id": None if add else obj.pk,
            "original": obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []) if form.is_bound else [],
            "preserved_filters": self.get_preserved_filters(request),
        }
        return self.render_change_form(request, context, add=add, change=not add,
                                       form_url=form_url, obj=obj)


@admin.register(GlobalMailConfig)
class GlobalMailConfigAdmin(MailSettingsAdmin):
    """The one global configuration: its changelist opens its change form."""

    form = GlobalMailConfigForm
    fieldsets = [*SMTP_FIELDSETS, (_("Company"), {"fields": ["company_name"]})]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None and str(object_id) == str(GlobalMailConfig.SINGLETON_PK):
            # Not stored yet: show the defaults; the first Save creates the row.
            obj = GlobalMailConfig(pk=GlobalMailConfig.SINGLETON_PK)
        return obj

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse(
            "admin:symfonia_mail_globalmailconfig_change",
            args=[GlobalMailConfig.SINGLETON_PK], current_app=self.admin_site.name))

    def response_change(self, request, obj):
        # The changelist is this same page; say so without a redirect loop in the history.
        if "_continue" in request.POST or "_save" in request.POST:
            self.message_user(request, gettext("The global mail configuration was saved. "
                                               "It applies to the next message sent."),
                              messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def reloaded_form(self, request, obj):
        form = self._form_class(request, obj)(instance=obj)
        if obj._state.adding:
            return form, gettext("No global configuration is stored yet: the defaults are shown.")
        return form, gettext(
            "Loaded the stored global configuration (%(server)s, sender %(sender)s); unsaved "
            "changes were discarded.") % _describe(obj)


def _describe(config):
    return {"server": f"{config.host}:{config.port}" if config.host else "-",
            "sender": config.sender_email or "-"}


@admin.register(UserMailConfig)
class UserMailConfigAdmin(MailSettingsAdmin):
    """Users' configurations; a non-superuser sees and edits only their own."""

    form = UserMailConfigForm
    fieldsets = [(None, {"fields": ["user", "scope", "showing"]}), *SMTP_FIELDSETS]
    list_display = ["user", "scope", "server", "sender_email", "updated_at"]
    list_filter = ["scope", "transport"]
    search_fields = ["user__username", "sender_email", "host"]
    list_select_related = ["user"]
    actions = ["test_smtp", "reload_scope"]
    reload_in_form = True
    add_title = _("New user mail configuration")

    def changelist_view(self, request, extra_context=None):
        # Django's "Select %s to change" does not decline in Polish either.
        extra_context = {"title": capfirst(self.opts.verbose_name_plural), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("SMTP server"), ordering="host")
    def server(self, obj):
        return f"{obj.host}:{obj.port}" if obj.host else "-"

    # --- own rows only for non-superusers -----------------------------------

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(user=request.user)

    def _owns(self, request, obj):
        return obj is None or request.user.is_superuser or obj.user_id == request.user.pk

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._owns(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._owns(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._owns(request, obj)

    def has_add_permission(self, request):
        if not super().has_add_permission(request):
            return False
        # "Only for the currently logged-in user": one row per user.
        return request.user.is_superuser or not UserMailConfig.objects.filter(
            user=request.user).exists()

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None and not request.user.is_superuser:
            fieldsets[0][1]["fields"] = [f for f in fieldsets[0][1]["fields"] if f != "user"]
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not request.user.is_superuser:
            fields.append("user")
        return fields

    def prepare_instance(self, request, obj):
        if obj.user_id is None and not request.user.is_superuser:
            obj.user = request.user

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("scope", Scope.INDIVIDUAL)
        return initial

    # --- Test SMTP / Reload on the form ---------------------------------------

    def config_under_test(self, form):
        stored_global = GlobalMailConfig.objects.filter(pk=GlobalMailConfig.SINGLETON_PK).first()
        if form.showing == Scope.GLOBAL:
            # The form shows the global values: those are what is tested.
            return resolver.from_settings(stored_global or GlobalMailConfig())
        return resolver.from_settings(
            form.instance, company_name=stored_global.company_name if stored_global else "")

    def reloaded_form(self, request, obj):
        scope = request.POST.get("scope")
        scope = scope if scope in Scope.values else Scope.INDIVIDUAL
        initial = {"scope": scope, "showing": scope}
        if obj is None and request.POST.get("user"):
            initial["user"] = request.POST["user"]
        form = self._form_class(request, obj)(instance=obj, initial=initial)
        if scope == Scope.GLOBAL:
            stored = GlobalMailConfig.objects.filter(pk=GlobalMailConfig.SINGLETON_PK).first()
            text = gettext(
                "Loaded the global configuration (%(server)s, sender %(sender)s). Press Save "
                "to make this user follow it; the individual values stay stored."
            ) % _describe(stored or GlobalMailConfig())
        elif obj is None or not (obj.host or obj.sender_email):
            text = gettext("No individual configuration is stored for this user yet: fill in "
                           "the form and press Save.")
        else:
            text = gettext(
                "Loaded the stored individual configuration of %(user)s (%(server)s, sender "
                "%(sender)s). Press Save to use it."
            ) % {"user": obj.user, **_describe(obj)}
        return form, text

    # --- list actions -----------------------------------------------------------

    @admin.action(description=_("Test SMTP"), permissions=["change"])
    def test_smtp(self, request, queryset):
        session = resolver.Session()
        for row in queryset.select_related("user"):
            report = diagnostics.run_smtp_test(session.config_for(row.user), user=row.user)
            note = "" if row.scope == Scope.INDIVIDUAL else gettext(
                " (follows the global configuration)")
            self.message_user(request, format_html("{}{}: {}", row.user, note, report.as_html()),
                              report.level)

    @admin.action(description=_("Reload scope"), permissions=["change"])
    def reload_scope(self, request, queryset):
        """Restore the stored individual configuration of the selected users."""
        restored, unchanged, incomplete = [], [], []
        for row in queryset.select_related("user"):
            if row.scope == Scope.INDIVIDUAL:
                unchanged.append(row)
                continue
            row.scope = Scope.INDIVIDUAL
            try:
                row.full_clean(exclude=["user", "password", "attachment_password"])
            except ValidationError:
                incomplete.append(row)
                continue
            row.save(update_fields=["scope", "updated_at"])
            self.log_change(request, row, [{"changed": {"fields": ["scope"]}}])
            restored.append(row)
        if restored:
            self.message_user(request, format_html(
                "{}<ul>{}</ul>", gettext("Restored the stored individual configuration of:"),
                format_html_join("", "<li>{}: {}, {}</li>", (
                    (row.user, _describe(row)["server"], _describe(row)["sender"])
                    for row in restored))), messages.SUCCESS)
        if unchanged:
            self.message_user(request, gettext("Already using their individual configuration: "
                                               "%(users)s.") % {"users": _users(unchanged)},
                              messages.INFO)
        if incomplete:
            self.message_user(request, gettext(
                "No complete individual configuration is stored for %(users)s: left on the "
                "global configuration. Open the user's configuration, choose “Only for this "
                "user”, fill it in and save.") % {"users": _users(incomplete)},
                messages.WARNING)


def _users(rows):
    return ", ".join(str(row.user) for row in rows)


# --- message templates -------------------------------------------------------------

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
class MessageTemplateAdmin(admin.ModelAdmin):
    """Templates by key and owner; a non-superuser edits their own, reads the global ones."""

    change_form_template = "admin/symfonia_mail/messagetemplate_change_form.html"
    list_display = ["key", "owner_display", "subject", "updated_at"]
    list_filter = ["key"]
    search_fields = ["key", "subject", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["macro_reference"]

    class Media:
        css = ADMIN_MEDIA_CSS

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

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(owner__isnull=True) | queryset.filter(owner=request.user)

    def _owns(self, request, obj):
        return obj is None or request.user.is_superuser or obj.owner_id == request.user.pk

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._owns(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._owns(request, obj)

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.owner = request.user
        super().save_model(request, obj, form, change)
        for warning in getattr(form, "warnings", ()):
            self.message_user(request, warning, messages.WARNING)

    def get_urls(self):
        return [
            path("preview/", self.admin_site.admin_view(views.template_preview),
                 name="symfonia_mail_messagetemplate_preview"),
            *super().get_urls(),
        ]


# --- delivery log -------------------------------------------------------------------


@admin.register(MailLog)
class MailLogAdmin(admin.ModelAdmin):
    """The delivery log, read-only; a non-superuser sees the messages they sent."""

    list_display = ["created_at", "status", "subject", "recipients_short", "sent_by", "server"]
    list_filter = ["status", "created_at", ("sent_by", admin.RelatedOnlyFieldListFilter),
                   "scope"]
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
