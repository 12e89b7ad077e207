"""The token step of Test SMTP: which sign-in, what the identity platform answered."""

import base64

from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..models import AuthMethod
from ..oauth import tokens as oauth

HOW = {
    "acquired": _("access token acquired"),
    "refreshed": _("access token refreshed"),
    "cached": _("access token reused (still valid)"),
}
FLOWS = {
    "client_credentials": _("unattended sign-in (client credentials)"),
    "refresh_token": _("connected account (refresh token)"),
    "": _("no account connected"),
}


def detail(config):
    """Return what the token step tries: provider, flow and where it asks."""
    flow = FLOWS[oauth.kind_of_sign_in(config)]
    if config.auth_method == AuthMethod.MICROSOFT365:
        where = oauth.authority_url(config.oauth_tenant)
        return format_lazy("Microsoft 365, {}, {}", flow, where)
    return format_lazy("Google, {}", flow)


def outcome(config, grant):
    """Return the Step fields of a successful token step."""
    minutes = grant.expires_in // 60
    reply = gettext("%(how)s; valid for %(minutes)s more minutes") % {
        "how": HOW[grant.how], "minutes": minutes}
    return {"detail": detail(config), "reply": reply}


def redactor(redact, grant, config):
    """Return *redact* extended to blank the access token and its XOAUTH2 encoding."""
    forms = [base64.b64encode(oauth.xoauth2_string(config.username, grant.access_token)
                              .encode()).decode(), grant.access_token]
    if config.oauth_client_secret:
        forms.append(str(config.oauth_client_secret))

    def extended(text):
        for form in forms:
            text = text.replace(form, "********")
        return redact(text)

    return extended
