"""Admin forms: message templates (32 KB HTML limit, macro warnings) and mail configurations."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext_lazy as _

from .. import certificates, kinds
from ..config.allowed import is_restricted, server_allowed
from ..fields import UnreadableSecret
from ..hints import CODES
from ..macros import MACROS, unknown_macros
from ..models import (
    API_SIGN_IN,
    AuthMethod,
    GlobalMailConfig,
    MessageTemplate,
    Scope,
    UserMailConfig,
)
from ..validators import is_html, parse_dsn_notify, validate_body_size
from .widgets import DsnNotifyField, OAuthConnectionWidget, ScopeSelect, SecretInput

# The empty choice of our selects: Django 6.1's "- Select an option -" has no Polish yet.
EMPTY_CHOICE = _("— choose —")


def relabel_empty_choice(field):
    """Give *field*'s empty choice, if it has one, our translated label."""
    if isinstance(field, forms.ModelChoiceField):
        if field.empty_label is not None:
            field.empty_label = EMPTY_CHOICE
    elif isinstance(field, forms.ChoiceField):
        choices = list(field.choices)
        if choices and choices[0][0] == "":
            field.choices = [("", EMPTY_CHOICE), *choices[1:]]
    return field


def kind_warnings(key, subject, body):
    """Return warnings about macros in *subject*/*body* that the kind *key* never fills.

    Such a macro has no value when the message is sent, so sending fails
    (UnfilledMacro) rather than showing the reader ``{umowa}``.
    """
    kind = kinds.get(key)
    if kind is None:
        return []
    unfilled = kind.unfilled(subject or "", body or "")
    if not unfilled:
        return []
    filled = ", ".join("{" + name + "}" for name in sorted(kind.fills))
    return [str(_(
        "%(macros)s: the kind “%(kind)s” never fills this, so a message with it would not be "
        "sent (it fails with an “unfilled macro” error). This kind fills: %(filled)s."
    ) % {"macros": ", ".join("{" + name + "}" for name in unfilled), "kind": kind.label,
         "filled": filled})]


def kind_choices(current=""):
    """Return the key choices: the registered kinds, plus *current* when no kind knows it."""
    choices = [(kind.key, f"{kind.key} — {kind.label}") for kind in kinds.all_kinds()]
    if current and kinds.get(current) is None:
        choices.append((current, str(_("%(key)s — unknown kind: no code sends it") % {
            "key": current})))
    return choices


def kind_help():
    """Return the key's help text: each kind, what it is and the macros it fills."""
    return format_html("{}<ul class=\"symfonia-kinds\">{}</ul>", _(
        "What the template is for: the program uses it only for messages of this kind, and "
        "fills only the macros listed (plus {firma}, {wysyłający}, {wystawiający})."),
        format_html_join("", "<li><code>{}</code> — {}{}</li>", (
            (kind.key, kind.description or kind.label,
             format_html(" <em>{}</em>", ", ".join("{" + m + "}" for m in kind.macros))
             if kind.macros else "")
            for kind in kinds.all_kinds())))


def template_warnings(subject, body, key=None):
    """Return warnings (strings) about *subject* and *body* that do not block saving.

    Unknown macros do not block: brace text made of words may be meant
    literally, and Symfonia stores any text; but a typo like ``{numr}`` would
    reach the contractor as written, so the person saving must see it.
    """
    warnings = kind_warnings(key, subject, body) if key else []
    valid = ", ".join("{" + name + "}" for name in MACROS)
    for where, text in ((_("subject"), subject), (_("body"), body)):
        for token, suggestion in unknown_macros(text or ""):
            if suggestion:
                message = _("%(token)s in the %(where)s is not a macro and will be sent as "
                            "written; did you mean {%(suggestion)s}? Valid macros: %(valid)s.")
            else:
                message = _("%(token)s in the %(where)s is not a macro and will be sent as "
                            "written. Valid macros: %(valid)s.")
            warnings.append(message % {"token": token, "where": where,
                                       "suggestion": suggestion, "valid": valid})
    if is_html(body) and not body.rstrip().lower().endswith("</html>"):
        warnings.append(str(_(
            "The body starts with <html but does not end with </html>: it is sent as HTML "
            "as it is; check that nothing was cut off."
        )))
    return [str(w) for w in warnings]


class MessageTemplateForm(forms.ModelForm):
    """Edit a template; ``form.warnings`` lists what the admin should show after saving."""

    class Meta:
        model = MessageTemplate
        fields = ["key", "owner", "subject", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 20, "cols": 100,
                                                 "spellcheck": "true"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.warnings = []
        if "key" in self.fields:
            stored = self.instance.key if self.instance.pk else ""
            self.fields["key"] = forms.ChoiceField(
                label=capfirst(_("kind")), choices=[("", EMPTY_CHOICE), *kind_choices(stored)],
                help_text=kind_help(), initial=self.fields["key"].initial)

    def clean_body(self):
        # Browsers submit CRLF line ends; store LF so the size is what the text is.
        body = (self.cleaned_data.get("body") or "").replace("\r\n", "\n")
        validate_body_size(body)
        return body

    def clean(self):
        cleaned = super().clean()
        self.warnings = template_warnings(cleaned.get("subject"), cleaned.get("body"),
                                          cleaned.get("key"))
        return cleaned


# --- mail configuration forms ------------------------------------------------

SECRET_FIELDS = ("password", "attachment_password", "oauth_client_secret", "imap_password")
IMAP_FIELDS = ["imap_host", "imap_port", "imap_security", "imap_username", "imap_password",
               "reports_folder", "sent_copy", "sent_folder"]
SETTINGS_FIELDS = [
    "transport", "host", "port", "security", "verify_certificate", "ca_certificates",
    "timeout_ms", "auth_method", "username",
    "password", "oauth_tenant", "oauth_client_id", "oauth_client_secret",
    "sender_email", "sender_name", "cc", "bcc", "dsn_notify", "rate_limit_per_minute",
    "attachment_password", *IMAP_FIELDS,
]
# Fields with a stored default that a form posted without them (an older client) keeps.
KEPT_WHEN_ABSENT = ("imap_port", "imap_security", "reports_folder", "sent_copy")
# A form posted without the IMAP fields at all (an older client) keeps the stored ones.
IMAP_PLAIN_FIELDS = [name for name in IMAP_FIELDS if name not in SECRET_FIELDS]


def secret_state(instance, name, *, editable=True):
    """Return a sentence saying whether *name* is stored on *instance*, never its value."""
    value = getattr(instance, name, "") or ""
    if not value:
        return _("Nothing is stored.")
    if isinstance(value, UnreadableSecret):
        return _("A value is stored but cannot be decrypted with the current encryption key "
                 "(FIELD_ENCRYPTION_KEY): enter it again.")
    entered_by = getattr(instance, f"{name}_set_by", None)
    if entered_by is None:
        return (_("A value is stored. Leave the field empty to keep it.") if editable
                else _("A value is stored."))
    user = {"user": entered_by.get_username()}
    if editable:
        return _("A value is stored (entered by %(user)s). Leave the field empty to keep it.") % (
            user)
    return _("A value is stored (entered by %(user)s).") % user


def oauth_connection_state(instance):
    """Return a sentence: how this configuration signs in with OAuth2, and whether it works."""
    method = getattr(instance, "auth_method", AuthMethod.PASSWORD)
    if method == AuthMethod.PASSWORD:
        return _("Not used: the sign-in method is the password.")
    if instance.oauth_problem:
        code, _space, answer = instance.oauth_problem.partition(" ")
        return format_lazy("{} ({}) {}", _("Broken: the last sign-in failed."), answer,
                           CODES.get(code, ""))
    if instance.oauth_refresh_token:
        return _("Connected as %(account)s.") % {
            "account": instance.oauth_account or instance.username}
    if method == AuthMethod.MICROSOFT365 and instance.oauth_client_secret:
        return _("Unattended sign-in with the client secret (no account connected).")
    return _("Not connected.")


def _text(value):
    # Browsers send CRLF, a stored value may have LF and a trailing newline: the same text.
    return str("" if value is None else value).replace("\r\n", "\n").replace("\r", "\n").strip()


def _pem(value):
    # The certificates trusted, not their spelling; unreadable text compares as text.
    found = certificates.fingerprint(value)
    return _text(value) if found is None else found


# How a connection field is compared to decide "the server changed": host names are
# case-insensitive (a trailing dot names the same host), certificates compare by DER.
_BOUND_VALUE = {"host": lambda value: _text(value).lower().rstrip("."), "ca_certificates": _pem}


def bound_value(name, value):
    """Return *value* of the field *name* normalised for comparing with the stored one."""
    return _BOUND_VALUE.get(name, _text)(value)


class MailSettingsForm(forms.ModelForm):
    """Edit one mail configuration; the two passwords are write-only.

    An empty password field keeps the stored value, a new value records who
    entered it (``*_set_by``), the "clear" checkbox removes it. The admin sets
    ``editor`` (who is saving) and ``show_url_for(name)`` (the "Show" endpoint
    when the viewer may see the value, else "").
    """

    dsn_notify = DsnNotifyField(
        label=capfirst(_("delivery notifications")),
        help_text=format_lazy(
            "{} {}",
            _("Ask the mail server to report back: when the message is delivered, "
              "when delivery fails, when it is delayed; or never. “None” asks for "
              "nothing and leaves it to the server. Not every server supports this."),
            _("Not available with Microsoft Graph or the Gmail API: they take no such "
              "request (reports of failed deliveries still arrive in the mailbox).")),
    )
    password = forms.CharField(
        label=capfirst(_("password")), required=False, strip=False, widget=SecretInput,
        help_text=_("Never shown on this page. Leave empty to keep the stored password; "
                    "after changing the server, port, security, certificate check or user "
                    "name, enter it again."),
    )
    clear_password = forms.BooleanField(label=_("Clear the stored password"), required=False)
    imap_password = forms.CharField(
        label=capfirst(_("IMAP password")), required=False, strip=False, widget=SecretInput,
        help_text=_("Never shown on this page. Empty: the SMTP password is used. After "
                    "changing the IMAP server, port, security, certificate check or user "
                    "name, enter it again."),
    )
    clear_imap_password = forms.BooleanField(
        label=_("Clear the stored IMAP password"), required=False)
    attachment_password = forms.CharField(
        label=capfirst(_("attachment password")), required=False, strip=False, widget=SecretInput,
        # The model's help text (what protection does), plus how the empty field behaves.
        help_text=format_lazy("{} {}", GlobalMailConfig._meta.get_field(
            "attachment_password").help_text, _("Leave empty to keep the stored password.")),
    )
    oauth_client_secret = forms.CharField(
        label=capfirst(_("OAuth2 client secret")), required=False, strip=False,
        widget=SecretInput,
        help_text=_("The value of the application's client secret (not its ID). Never shown "
                    "on this page; leave empty to keep the stored one. Microsoft 365: with a "
                    "secret and no connected account, the application signs in unattended."),
    )
    clear_oauth_client_secret = forms.BooleanField(
        label=_("Clear the stored client secret"), required=False)
    oauth_connection = forms.CharField(
        label=capfirst(_("connection")), required=False, disabled=True,
        widget=OAuthConnectionWidget)
    clear_attachment_password = forms.BooleanField(
        label=_("Clear the stored attachment password"), required=False,
        help_text=_("Attachments are then sent unprotected."),
    )

    editor = None
    oauth_can_connect = False  # the admin sets it where the user may save the form
    oauth_disconnect_url = oauth_redirect_uri = ""

    @staticmethod
    def show_url_for(name):
        return ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.secret_changes = {}
        for name in SECRET_FIELDS:
            # The stored secret must not even sit in the form's initial data.
            self.initial.pop(name, None)
            if name in self.fields:
                widget = self.fields[name].widget
                widget.state = secret_state(self.instance, name)
                widget.show_url = self.show_url_for(name)
        if "auth_method" in self.fields:
            self.fields["auth_method"].required = False
        for name in KEPT_WHEN_ABSENT:
            if name in self.fields:
                self.fields[name].required = False
        if "oauth_connection" in self.fields:
            self.fields["oauth_connection"].widget.set_state(
                self.instance, oauth_connection_state(self.instance),
                connect=self.oauth_can_connect,
                disconnect_url=self.oauth_disconnect_url, redirect_uri=self.oauth_redirect_uri)

    def clean_ca_certificates(self):
        # Browsers submit CRLF line ends; store LF, as the demo and a pasted file have them.
        return _text(self.cleaned_data.get("ca_certificates"))

    def _kept(self, name):
        """Return the posted *name*, else the stored value, else the model's default."""
        value = self.cleaned_data.get(name)
        if value not in (None, ""):
            return value
        stored = getattr(self.instance, name, None)
        return stored if stored not in (None, "") else self._meta.model._meta.get_field(
            name).get_default()

    def clean_imap_port(self):
        return self._kept("imap_port")

    def clean_imap_security(self):
        return self._kept("imap_security")

    def clean_reports_folder(self):
        return self._kept("reports_folder")

    def clean_sent_copy(self):
        return self._kept("sent_copy")

    def clean_auth_method(self):
        # A form posted without the field (an older client) keeps the stored method.
        return self.cleaned_data.get("auth_method") or self.instance.auth_method or (
            AuthMethod.PASSWORD)

    def clean(self):
        cleaned = super().clean()
        for name in SECRET_FIELDS:
            if name not in self.fields:
                continue
            stored = getattr(self.instance, name, "") or ""
            new = cleaned.get(name) or ""
            if self.fields[name].disabled:
                cleaned[name] = stored
            elif cleaned.get(f"clear_{name}"):
                if new:
                    self.add_error(f"clear_{name}", _(
                        "Either enter a new password or clear the stored one, not both."))
                cleaned[name] = ""
                if stored:
                    self.secret_changes[name] = "cleared"
            elif new:
                self.secret_changes[name] = "set"
            else:
                cleaned[name] = stored
        for name in IMAP_PLAIN_FIELDS:
            if self.is_bound and name in self.fields and self.add_prefix(name) not in self.data:
                cleaned[name] = getattr(self.instance, name)
        self._forget_password_unused_by_oauth(cleaned)
        self._check_password_follows_server(cleaned)
        self._check_imap_password_follows_server(cleaned)
        self._check_server_allowed(cleaned)
        self._check_dsn_available(cleaned)
        self._check_oauth_follows_server(cleaned)
        return cleaned

    def _check_server_allowed(self, cleaned):
        """Refuse a server outside SYMFONIA_MAIL["ALLOWED_SERVERS"] for non-superusers."""
        for host_field, port_field in (("host", "port"), ("imap_host", "imap_port")):
            host, port = cleaned.get(host_field), cleaned.get(port_field)
            if (host and port and is_restricted(self.editor)
                    and not server_allowed(host, port)):
                self.add_error(host_field, _(
                    "This server is not on the list of servers allowed for mail "
                    "configurations (ALLOWED_SERVERS in the site settings). Ask the site "
                    "administrator."))

    def _check_dsn_available(self, cleaned):
        """Refuse delivery notifications for a mailbox API: they cannot ask for them."""
        if cleaned.get("transport") in API_SIGN_IN and parse_dsn_notify(
                cleaned.get("dsn_notify")):
            self.add_error("dsn_notify", _(
                "Microsoft Graph and the Gmail API cannot ask for delivery notifications: "
                "clear these options (reports of failed deliveries still arrive in the "
                "mailbox)."))

    # A connected account is bound to the application and mailbox it signed in for.
    OAUTH_BOUND_TO = ("auth_method", "oauth_tenant", "oauth_client_id")

    def _check_oauth_follows_server(self, cleaned):
        """Keep OAuth2 credentials with the server and application they were set up for.

        An access token opens the mailbox for an hour: whoever may edit the form
        must not point the server at one they control and read the token from
        the login. A client secret must then be typed again; a connected
        account is dropped (connecting again needs the account's own sign-in).
        """
        instance = self.instance
        self.drop_oauth_connection = False
        if instance.pk is None:
            return
        # The tokens also open the mailbox over IMAP: its server counts as well.
        server_moved = self._moved(cleaned, (*self.PASSWORD_BOUND_TO, *self.IMAP_BOUND_TO))
        if instance.oauth_refresh_token and (
                server_moved or self._moved(cleaned, self.OAUTH_BOUND_TO)):
            self.drop_oauth_connection = True
        secret_stored = bool(getattr(instance, "oauth_client_secret", ""))
        if (server_moved and secret_stored and "oauth_client_secret" in self.fields
                and not self.fields["oauth_client_secret"].disabled
                and "oauth_client_secret" not in self.secret_changes
                and cleaned.get("auth_method", instance.auth_method) != "password"):
            self.add_error("oauth_client_secret", _(
                "You changed the server, port, security, certificate check or user name: enter "
                "the client secret again. Stored OAuth2 credentials are only used with the "
                "server they were entered for."))

    # Where the SMTP password goes: changing any of these must not carry it along.
    # verify_certificate too: with checks off, whoever impersonates the server gets the password.
    # So are the trusted CA certificates: a CA of one's own would let one impersonate the server.
    PASSWORD_BOUND_TO = ("host", "port", "security", "verify_certificate", "ca_certificates",
                         "username")

    def _moved(self, cleaned, names):
        """Return the editable fields among *names* whose value differs from the stored one."""
        return [name for name in names if name in cleaned and name in self.fields
                and not self.fields[name].disabled
                and bound_value(name, cleaned[name]) != bound_value(
                    name, getattr(self.instance, name))]

    def _forget_password_unused_by_oauth(self, cleaned):
        """Clear the stored SMTP password when OAuth2 signs in and the server moves.

        The password field is hidden while an OAuth2 method is chosen (admin_oauth.js):
        "enter the password again" would block saving with an error nobody sees, and
        the password must not follow the server either.
        """
        if (cleaned.get("auth_method", AuthMethod.PASSWORD) != AuthMethod.PASSWORD
                and "password" not in self.secret_changes and self.instance.pk is not None
                and getattr(self.instance, "password", "")
                and "password" in self.fields and not self.fields["password"].disabled
                and self._moved(cleaned, self.PASSWORD_BOUND_TO)):
            cleaned["clear_password"] = True
            cleaned["password"] = ""
            self.secret_changes["password"] = "cleared"

    def _check_password_follows_server(self, cleaned):
        """Refuse to send the stored SMTP password to another server or user name.

        Otherwise anyone allowed to edit the form (but not to "Show" the password)
        could point the server at one they control, press Test SMTP or Save, and
        read the password from the login. A new password must be typed instead.
        """
        stored = getattr(self.instance, "password", "") or ""
        if not stored or self.instance.pk is None or "password" in self.secret_changes:
            return
        if "password" not in self.fields or self.fields["password"].disabled:
            return
        if self._moved(cleaned, self.PASSWORD_BOUND_TO) and not cleaned.get("clear_password"):
            self.add_error("password", _(
                "You changed the server, port, security, certificate check or user name: enter "
                "the password again. The stored password is only used with the server it was "
                "entered for."))

    # Where the IMAP login goes; with no IMAP password of its own, the SMTP password goes there.
    IMAP_BOUND_TO = ("imap_host", "imap_port", "imap_security", "imap_username")

    def _check_imap_password_follows_server(self, cleaned):
        """Refuse to send a stored password to another IMAP server or user name.

        The IMAP password, or the SMTP password when there is none, as for SMTP:
        whoever may edit the form must not point the IMAP server at one they
        control and read the password from its login.
        """
        instance = self.instance
        if instance.pk is None or "imap_password" not in self.fields or self.fields[
                "imap_password"].disabled or "imap_password" in self.secret_changes:
            return
        uses_smtp_password = not cleaned.get("imap_password")
        stored = (getattr(instance, "password", "") if uses_smtp_password
                  else getattr(instance, "imap_password", "")) or ""
        if not stored or (uses_smtp_password and "password" in self.secret_changes):
            return
        if uses_smtp_password and not cleaned.get("imap_host"):
            return  # no mailbox side: the SMTP password goes nowhere new
        bound = (*self.IMAP_BOUND_TO, "verify_certificate", "ca_certificates")
        moved = [name for name in bound
                 if name in cleaned and name in self.fields and not self.fields[name].disabled
                 and str(cleaned[name]) != str(getattr(instance, name))]
        if moved and not cleaned.get("clear_imap_password"):
            self.add_error("imap_password", _(
                "You changed the IMAP server, port, security, certificate check or user "
                "name: enter the IMAP password again (or the SMTP password, when the mailbox "
                "uses it). A stored password is only used with the server it was entered "
                "for."))

    def _post_clean(self):
        super()._post_clean()
        for name, change in self.secret_changes.items():
            editor = self.editor if change == "set" else None
            if editor is not None and not getattr(editor, "pk", None):
                editor = None
            setattr(self.instance, f"{name}_set_by", editor)
        if getattr(self, "drop_oauth_connection", False):
            self.instance.oauth_refresh_token = ""
            self.instance.oauth_account = ""
        if self.secret_changes.get("oauth_client_secret") or getattr(
                self, "drop_oauth_connection", False):
            self.instance.oauth_problem = ""  # the next token request says what is wrong now


class GlobalMailConfigForm(MailSettingsForm):
    """The global configuration (Symfonia's "common for all users" scope)."""

    class Meta:
        model = GlobalMailConfig
        fields = [*SETTINGS_FIELDS, "company_name"]


class UserMailConfigForm(MailSettingsForm):
    """A user's configuration, which shows the values of the scope it displays.

    ``showing`` (a hidden field) says which scope's values fill the form:
    ``individual`` (this user's stored values, editable) or ``global`` (the
    global values, read-only here). Saving while showing the global values
    changes only the scope: the individual values stay stored, as in Symfonia.
    """

    showing = forms.ChoiceField(choices=Scope.choices, required=False, widget=forms.HiddenInput)

    class Meta:
        model = UserMailConfig
        fields = ["user", "scope", *SETTINGS_FIELDS]
        widgets = {"scope": ScopeSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.discarded = []  # edited individual values not stored (common scope chosen)
        if self.is_bound:
            showing = self.data.get(self.add_prefix("showing"))
        else:
            showing = self.initial.get("showing") or (
                self.instance.scope if self.instance.pk else Scope.INDIVIDUAL)
        self.showing = showing if showing in Scope.values else Scope.INDIVIDUAL
        self.initial["showing"] = self.showing
        if self.showing == Scope.GLOBAL:
            self._show_global()

    @property
    def keeps_individual_values(self):
        """Return True when saving must change only the scope (the common scope is chosen).

        The README's promise: choosing the common scope and pressing Save changes
        the scope alone; edits typed into the individual values are not stored.
        A new row has no stored values to keep, so there the form's values are saved.
        """
        return (self.is_bound and self.instance.pk is not None
                and self.data.get(self.add_prefix("scope")) == Scope.GLOBAL)

    def clean(self):
        if not self.keeps_individual_values:
            return super().clean()
        cleaned = forms.ModelForm.clean(self)  # unique checks; the secrets stay as stored
        typed = super().changed_data
        stored = type(self.instance)._default_manager.get(pk=self.instance.pk)
        self.discarded = []
        for name in self.fields:
            if name in ("user", "scope", "showing"):
                continue
            self._errors.pop(name, None)  # a typo in a value that is not saved blocks nothing
            if name.startswith("clear_") or name == "oauth_connection":
                cleaned[name] = False if name.startswith("clear_") else ""
                continue
            value = getattr(stored, name)
            if name in typed and not self.fields[name].disabled and (
                    name not in SECRET_FIELDS or cleaned.get(name)):
                self.discarded.append(name)
            cleaned[name] = value
        return cleaned

    @property
    def changed_data(self):
        changed = super().changed_data
        if self.keeps_individual_values:
            # The history says what was stored: only the scope.
            return [name for name in changed if name in ("user", "scope")]
        return changed

    def _show_global(self):
        shown = None if self.is_bound else GlobalMailConfig.objects.filter(
            pk=GlobalMailConfig.SINGLETON_PK).first()
        for name, field in self.fields.items():
            if name in ("user", "scope", "showing"):
                continue
            field.disabled = True
            if name in SECRET_FIELDS:
                field.widget.show_url = ""
                field.widget.state = secret_state(shown, name) if shown else ""
            elif shown is not None and hasattr(shown, name):
                self.initial[name] = getattr(shown, name)
        if "transport" in self.fields:
            self.fields["transport"].help_text = _(
                "Values of the global configuration, shown read-only. Saving changes "
                "only the scope: this user's individual values stay stored.")


class OwnMessageTemplateForm(MessageTemplateForm):
    """The template form of a non-superuser: the owner is always the person editing."""

    owner_user = None

    class Meta(MessageTemplateForm.Meta):
        fields = ["key", "subject", "body"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None and self.owner_user is not None:
            self.instance.owner = self.owner_user

    def clean_key(self):
        # The owner is not a form field, so ModelForm skips the (owner, key) constraint.
        key = self.cleaned_data.get("key")
        mine = MessageTemplate.objects.filter(owner=self.instance.owner, key=key)
        if key and mine.exclude(pk=self.instance.pk).exists():
            raise ValidationError(_("You already have a template with this key."),
                                  code="unique")
        return key
