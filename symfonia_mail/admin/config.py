"""The global configuration (a singleton page) and users' configurations (own rows only)."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..config import resolver
from ..diagnostics import smtp_test as diagnostics
from ..models import GlobalMailConfig, Scope, UserMailConfig
from .base import SCOPE_SHORT, SMTP_FIELDSETS, MailSettingsAdmin, ScopeFilter
from .forms import GlobalMailConfigForm, UserMailConfigForm
from .own_rows import OwnRowsMixin


@admin.register(GlobalMailConfig)
class GlobalMailConfigAdmin(MailSettingsAdmin):
    """The one global configuration: its changelist opens its change form."""

    serves_oauth_callback = True  # the OAuth2 redirect URI of both configuration models

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


def _describe(config):
    return {"server": f"{config.host}:{config.port}" if config.host else "-",
            "sender": config.sender_email or "-"}


@admin.register(UserMailConfig)
class UserMailConfigAdmin(OwnRowsMixin, MailSettingsAdmin):
    """Users' configurations; a non-superuser sees and edits only their own."""

    form = UserMailConfigForm
    fieldsets = [(None, {"fields": ["user", "scope", "showing"]}), *SMTP_FIELDSETS]
    list_display = ["user", "scope_short", "server", "sender_email", "updated_at"]
    list_filter = [ScopeFilter, "transport"]
    search_fields = ["user__username", "sender_email", "host"]
    list_select_related = ["user"]
    actions = ["test_smtp", "reload_scope"]
    has_scope = True
    add_title = _("New user mail configuration")

    def get_autocomplete_fields(self, request):
        # A drop-down of every user costs a query and a page of <option>s per
        # user (161 ms at 1,000 users); autocomplete needs the user model's admin
        # with search_fields, which a host project may not register.
        try:
            users = self.admin_site.get_model_admin(get_user_model())
        except admin.sites.NotRegistered:
            return super().get_autocomplete_fields(request)
        return ["user"] if users.search_fields else super().get_autocomplete_fields(request)

    @admin.display(description=_("scope"), ordering="scope")
    def scope_short(self, obj):
        return SCOPE_SHORT.get(obj.scope, obj.scope)

    @admin.display(description=_("SMTP server"), ordering="host")
    def server(self, obj):
        return f"{obj.host}:{obj.port}" if obj.host else "-"

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

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if getattr(form, "discarded", None):
            self.message_user(request, gettext(
                "Only the scope was saved: this user now follows the global configuration. "
                "Your changes to %(fields)s were not stored; the individual values stay as "
                "they were.") % {"fields": ", ".join(
                    str(form.fields[name].label) for name in form.discarded)},
                messages.WARNING)

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
            return resolver.from_model(stored_global or GlobalMailConfig())
        return resolver.from_model(
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
