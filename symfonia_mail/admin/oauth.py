"""OAuth2 in the configuration admins: connection state, Connect/Disconnect, the callback.

"Connect" and "Disconnect" are POST-only admin views (the buttons submit the
change form with its CSRF token to them); the provider sends the browser
back to one callback URL, served by the global configuration's admin, which
checks the state against the session before anything is stored.
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from ..exceptions import OAuthError
from ..models import AuthMethod
from ..oauth import flows as oauth_flows
from .forms import oauth_connection_state, secret_state

CALLBACK_URL_NAME = "symfonia_mail_oauth_callback"
# Fields whose stored value the sign-in uses: Connect refuses while they have unsaved edits.
CONNECT_USES = ("auth_method", "oauth_tenant", "oauth_client_id", "username")


class OAuthAdminMixin:
    """Connection state and the Connect/Disconnect/callback views of OAuth2 sign-in."""

    serves_oauth_callback = False  # one admin serves the callback for both models

    @admin.display(description=_("OAuth2 client secret"))
    def oauth_client_secret_state(self, obj):
        return secret_state(obj, "oauth_client_secret", editable=False)

    @admin.display(description=_("connection"))
    def oauth_connection_state(self, obj):
        return oauth_connection_state(obj)

    def _oauth_url(self, name, obj):
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_oauth_{name}",
                       args=[obj.pk], current_app=self.admin_site.name)

    def oauth_redirect_uri(self, request):
        """Return the callback URL to register at Microsoft and Google."""
        return request.build_absolute_uri(
            reverse(f"admin:{CALLBACK_URL_NAME}", current_app=self.admin_site.name))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        may_save = self.has_add_permission(request) if obj is None else (
            self.has_change_permission(request, obj))
        editable = obj is not None and obj.pk is not None and self.has_change_permission(
            request, obj)
        return type(form.__name__, (form,), {
            "oauth_can_connect": may_save,
            "oauth_disconnect_url": self._oauth_url("disconnect", obj) if editable else "",
            "oauth_redirect_uri": self.oauth_redirect_uri(request),
        })

    # --- Connect on the change form: save the typed values, then sign in -----------------

    def response_add(self, request, obj, post_url_continue=None):
        if "_oauth_connect" in request.POST:
            return self.connect_saved(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if "_oauth_connect" in request.POST:
            return self.connect_saved(request, obj)
        return super().response_change(request, obj)

    def connect_saved(self, request, obj):
        """Start the sign-in for *obj*, which the form just saved with the typed values.

        Connect submits the form to the change view itself: the values typed in
        (the method, directory, client ID and secret) are saved first, never lost.
        """
        if obj.auth_method == AuthMethod.PASSWORD or not obj.oauth_client_id:
            self.message_user(request, gettext(
                "Saved. To connect, choose Microsoft 365 or Google as the sign-in method and "
                "enter the client ID (and for Microsoft the directory)."), messages.WARNING)
            return self._back(obj)
        return self._sign_in(request, obj)

    def _sign_in(self, request, obj):
        """Send the browser to the provider's sign-in for *obj*, or back with the problem."""
        try:
            url = oauth_flows.start(request, obj, self.oauth_redirect_uri(request))
        except OAuthError as exc:
            self.message_user(request, exc.translated(), messages.ERROR)
            return self._back(obj)
        return HttpResponseRedirect(url)

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        urls = [
            path("<path:object_id>/oauth/connect/",
                 self.admin_site.admin_view(self.oauth_connect_view), name=f"{info}_oauth_connect"),
            path("<path:object_id>/oauth/disconnect/",
                 self.admin_site.admin_view(self.oauth_disconnect_view),
                 name=f"{info}_oauth_disconnect"),
        ]
        if self.serves_oauth_callback:
            urls.append(path("oauth/callback/", self.admin_site.admin_view(
                self.oauth_callback_view), name=CALLBACK_URL_NAME))
        return [*urls, *super().get_urls()]

    def _oauth_object(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None or obj.pk is None:
            raise Http404
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def _back(self, obj):
        return HttpResponseRedirect(reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk],
            current_app=self.admin_site.name))

    @method_decorator(never_cache)
    @method_decorator(require_POST)
    def oauth_connect_view(self, request, object_id):
        """Start the sign-in at the provider for the stored configuration (POST only)."""
        obj = self._oauth_object(request, object_id)
        unsaved = [name for name in CONNECT_USES
                   if name in request.POST and request.POST[name] != str(getattr(obj, name))]
        if obj.auth_method == AuthMethod.PASSWORD or not obj.oauth_client_id or unsaved:
            self.message_user(request, gettext(
                "Choose Microsoft 365 or Google as the sign-in method, enter the client ID "
                "(and for Microsoft the directory), and save before connecting."),
                messages.ERROR)
            return self._back(obj)
        return self._sign_in(request, obj)

    @method_decorator(never_cache)
    @method_decorator(require_POST)
    def oauth_disconnect_view(self, request, object_id):
        """Forget the connected account of a configuration (POST only)."""
        obj = self._oauth_object(request, object_id)
        oauth_flows.disconnect(obj)
        self.message_user(request, gettext(
            "The connected account was removed from this configuration."), messages.SUCCESS)
        return self._back(obj)

    @method_decorator(never_cache)
    def oauth_callback_view(self, request):
        """Finish a sign-in the provider sent back here; the state must be this session's."""
        try:
            pending, obj = oauth_flows.pending_for(request)
        except oauth_flows.FlowError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:index", current_app=self.admin_site.name))
        model_admin = self.admin_site.get_model_admin(type(obj))
        if not model_admin.has_change_permission(request, obj):
            raise PermissionDenied
        try:
            account = oauth_flows.finish(request, pending, obj)
        except OAuthError as exc:
            self.message_user(request, exc.translated(), messages.ERROR)
        except oauth_flows.FlowError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, gettext(
                "Connected as %(account)s. Messages of this configuration now sign in as "
                "this account.") % {"account": account}, messages.SUCCESS)
        return model_admin._back(obj)
