"""Admin widgets: delivery-notification checkboxes and a password input that never shows."""

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from ..validators import DSN_CHOICES, DSN_EXCLUSIVE

_DSN_LABELS = {
    "OnSuccess": _("OnSuccess — when the message is delivered"),
    "OnFailure": _("OnFailure — when delivery fails"),
    "Delay": _("Delay — when delivery is delayed"),
    "Never": _("Never — never send notifications"),
    "None": _("None — do not ask (the server decides)"),
}
DSN_OPTIONS = tuple((name, _DSN_LABELS[name]) for name in DSN_CHOICES)


class DsnNotifyWidget(forms.CheckboxSelectMultiple):
    """Five checkboxes; Never and None exclude the others (a small script enforces it).

    Each checkbox carries ``data-dsn-group`` ("flag" or "exclusive") so the
    script can untick the other group the moment one is ticked; the server
    still validates the posted mix (``validators.validate_dsn_notify``).
    """

    class Media:
        js = ["symfonia_mail/admin.js"]

    def __init__(self, attrs=None, choices=DSN_OPTIONS):
        attrs = {"class": "symfonia-dsn", **(attrs or {})}
        super().__init__(attrs, choices)

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        group = "exclusive" if value in DSN_EXCLUSIVE else "flag"
        option["attrs"]["data-dsn-group"] = group
        return option

    def format_value(self, value):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        return super().format_value(value)


class DsnNotifyField(forms.MultipleChoiceField):
    """Checkboxes in the form, the comma-separated text of the model field in the database."""

    widget = DsnNotifyWidget

    def __init__(self, **kwargs):
        kwargs.setdefault("choices", DSN_OPTIONS)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    def to_python(self, value):
        # A disabled field is cleaned from its initial value: the stored text.
        return super().to_python(self.prepare_value(value))

    def has_changed(self, initial, data):
        return super().has_changed(self.prepare_value(initial or ""), data)

    def clean(self, value):
        # Keep the order of DSN_OPTIONS, whatever order the browser posted.
        chosen = super().clean(value)
        return ",".join(name for name, _label in DSN_OPTIONS if name in chosen)


class SecretInput(forms.PasswordInput):
    """A password input that never writes the stored value into the page.

    Next to it: whether a value is stored (and who entered it), and a "Show"
    button when the form decided the viewer may see it (``show_url``).
    """

    template_name = "admin/symfonia_mail/widgets/secret_input.html"

    class Media:
        js = ["symfonia_mail/admin.js"]

    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "new-password", **(attrs or {})}, render_value=False)
        self.state = ""  # a sentence: set or not, by whom
        self.show_url = ""  # POST endpoint of the "Show" button; "" hides the button

    def __deepcopy__(self, memo):
        copy = super().__deepcopy__(memo)
        copy.state, copy.show_url = self.state, self.show_url
        return copy

    def get_context(self, name, value, attrs):
        context = super().get_context(name, None, attrs)  # never the value
        context["widget"].update(state=self.state, show_url=self.show_url)
        return context


class ScopeSelect(forms.Select):
    """The scope selector with Symfonia's "Load configuration for the selected scope" button.

    The button posts the change form (CSRF included) with ``_reload_scope``;
    the admin answers with the form filled from the chosen scope, unsaved.
    It is rendered only where the field is editable, i.e. with the change
    (or add) permission.
    """

    template_name = "admin/symfonia_mail/widgets/scope_select.html"


class OAuthConnectionWidget(forms.Widget):
    """The OAuth2 connection: its state, Connect/Disconnect buttons, the redirect URI.

    Connect submits the change form itself (``_oauth_connect``): the admin saves
    the typed values, then sends the browser to the provider. Disconnect submits
    it to the POST-only disconnect view (``formaction``), which saves nothing.
    The state is written for each choice of the sign-in method; admin_oauth.js
    shows the one of the method selected, before anything is saved.
    """

    CONNECT_LABELS = {
        "microsoft365": _("Connect Microsoft account"),
        "google": _("Connect Google account"),
    }

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.state = ""
        self.method = ""
        self.connected = False
        self.connect = False
        self.disconnect_url = self.redirect_uri = ""

    def __deepcopy__(self, memo):
        copy = super().__deepcopy__(memo)
        copy.__dict__.update({k: v for k, v in self.__dict__.items() if k != "attrs"})
        return copy

    def set_state(self, instance, state, *, connect, disconnect_url, redirect_uri):
        """Show *state* (a sentence on the sign-in of *instance*) and the buttons."""
        self.state = state
        self.method = getattr(instance, "auth_method", "")
        self.connected = bool(getattr(instance, "oauth_refresh_token", ""))
        self.connect, self.disconnect_url = connect, disconnect_url
        self.redirect_uri = redirect_uri

    def states(self):
        """Return (method, text, hidden): the stored method's state, then any other's ("")."""
        return [(self.method, self.state, False),
                ("", _("Not connected yet. Connect saves this form, then opens the provider's "
                       "sign-in page."), True)]

    def render(self, name, value, attrs=None, renderer=None):
        buttons = []
        if self.connect:
            buttons = [format_html(
                '<button type="submit" class="button symfonia-oauth-button" formnovalidate '
                'name="_oauth_connect" value="{}" data-auth-method="{}">{}</button>',
                method, method, label) for method, label in self.CONNECT_LABELS.items()]
        if self.disconnect_url and self.connected:
            buttons.append(format_html(
                '<button type="submit" class="button symfonia-oauth-button" formaction="{}" '
                'formnovalidate name="_oauth_disconnect" data-auth-method="">{}</button>',
                self.disconnect_url, _("Disconnect account")))
        states = format_html_join(
            "", '<p class="symfonia-oauth-state" data-for-method="{}"{}>{}</p>',
            ((method, mark_safe(" hidden") if hidden else "", text)
             for method, text, hidden in self.states()))
        redirect = format_html(
            '<div class="help">{} <code class="symfonia-redirect-uri">{}</code></div>',
            _("Redirect URI to register for the application:"),
            self.redirect_uri) if self.redirect_uri else ""
        return format_html(
            '<div class="symfonia-oauth" id="{}">{}<p>{}</p>{}</div>',
            (attrs or {}).get("id", ""), states,
            format_html_join(" ", "{}", ((button,) for button in buttons)), redirect)
