"""The admin's "Connect account" flows: authorization code with PKCE, state bound to the session.

``start()`` remembers one pending sign-in in the session under a random
``state`` and returns the provider's sign-in URL; ``finish()`` takes the
callback's query, checks the state against the session (same user, not too
old, used once), exchanges the code and stores the refresh token on the
configuration. Microsoft goes through MSAL (which adds PKCE and a nonce),
Google through a plain token request.
"""

import base64
import hashlib
import secrets
import time
import warnings
from urllib.parse import urlencode

from django.utils.translation import gettext_lazy as _

from .. import conf
from ..config import resolver
from ..exceptions import OAuthError
from ..models import AuthMethod, GlobalMailConfig, UserMailConfig
from . import tokens as oauth
from .codes import checked_answer

SESSION_KEY = "symfonia_mail_oauth"
MAX_AGE = 600  # seconds a started sign-in stays valid
MAX_PENDING = 5
MODELS = {"global": GlobalMailConfig, "user": UserMailConfig}


class FlowError(Exception):
    """The sign-in cannot be completed; the message says why and what to do."""


def start(request, obj, redirect_uri):
    """Remember a sign-in for *obj* in the session and return the provider's URL."""
    config = resolver.from_model(obj)
    state = secrets.token_urlsafe(32)
    pending = {"model": "user" if isinstance(obj, UserMailConfig) else "global", "pk": obj.pk,
               "user": request.user.pk, "started": time.time(), "redirect_uri": redirect_uri}
    if obj.auth_method == AuthMethod.MICROSOFT365:
        # response_mode=query, not form_post: a cross-site POST back would arrive without
        # the session cookie (SameSite=Lax), and the state is bound to that session.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "response_mode='form_post'", UserWarning)
            flow = oauth.msal_app(config).initiate_auth_code_flow(
                oauth.delegated_scopes(config), redirect_uri=redirect_uri, state=state,
                login_hint=obj.username or None, response_mode="query")
        pending["flow"] = flow
        url = flow["auth_uri"]
    else:
        verifier = secrets.token_urlsafe(64)
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        pending["verifier"] = verifier
        query = {
            "client_id": obj.oauth_client_id, "redirect_uri": redirect_uri,
            "response_type": "code", "scope": oauth.google_scope(config), "state": state,
            # offline + consent: Google returns a refresh token only then.
            "access_type": "offline", "prompt": "consent",
            "code_challenge": challenge, "code_challenge_method": "S256",
        }
        if obj.username:
            query["login_hint"] = obj.username
        url = f"{conf.get('GOOGLE_AUTH_URL')}?{urlencode(query)}"
    waiting = dict(request.session.get(SESSION_KEY, {}))
    for old in sorted(waiting, key=lambda s: waiting[s]["started"])[:-MAX_PENDING + 1]:
        del waiting[old]
    waiting[state] = pending
    request.session[SESSION_KEY] = waiting
    return url


def pending_for(request):
    """Return (pending sign-in, its configuration) for the callback's state, used once."""
    waiting = dict(request.session.get(SESSION_KEY, {}))
    pending = waiting.pop(request.GET.get("state", ""), None)
    request.session[SESSION_KEY] = waiting
    if (pending is None or pending["user"] != request.user.pk
            or time.time() - pending["started"] > MAX_AGE):
        raise FlowError(_("This sign-in is not valid: it expired, was used already, or was "
                          "started in another session. Press “Connect” again."))
    obj = MODELS[pending["model"]].objects.filter(pk=pending["pk"]).first()
    if obj is None:
        raise FlowError(_("The configuration of this sign-in no longer exists."))
    return pending, obj


def finish(request, pending, obj):
    """Exchange the callback's code; store the refresh token on *obj*; return the account."""
    query = request.GET.dict()
    if "error" in query:
        raise FlowError(_("The sign-in was not completed: %(error)s %(description)s") % {
            "error": query["error"], "description": query.get("error_description", "")})
    config = resolver.from_model(obj)
    if obj.auth_method == AuthMethod.MICROSOFT365:
        # MSAL checks the state and the id token's nonce and sends the PKCE verifier.
        try:
            answer = oauth.msal_app(config).acquire_token_by_auth_code_flow(
                pending["flow"], query, scopes=oauth.delegated_scopes(config))
        except ValueError as exc:
            raise FlowError(str(exc)) from None
        answer = _checked(answer, "Microsoft")
        account = (answer.get("id_token_claims") or {}).get("preferred_username", "")
    else:
        answer = oauth.google_token_request(config, {
            "grant_type": "authorization_code", "code": query.get("code", ""),
            "redirect_uri": pending["redirect_uri"], "code_verifier": pending["verifier"]})
        account = obj.username
    if not answer.get("refresh_token"):
        raise FlowError(_("The provider signed in but returned no refresh token. Remove this "
                          "application's access in the account's security settings and "
                          "connect again."))
    obj.oauth_refresh_token = answer["refresh_token"]
    obj.oauth_account = account or obj.username
    obj.oauth_problem = ""
    if not obj.username:
        obj.username = obj.oauth_account
    obj.save(update_fields=["oauth_refresh_token", "oauth_account", "oauth_problem",
                            "username", "updated_at"])
    oauth.forget(config)
    return obj.oauth_account


def _checked(answer, provider):
    try:
        return checked_answer(answer, provider)
    except OAuthError as exc:
        raise FlowError(exc.translated()) from None


def disconnect(obj):
    """Forget *obj*'s connected account (the provider keeps its consent until revoked)."""
    oauth.forget(resolver.from_model(obj))
    obj.oauth_refresh_token = ""
    obj.oauth_account = ""
    obj.oauth_problem = ""
    obj.save(update_fields=["oauth_refresh_token", "oauth_account", "oauth_problem",
                            "updated_at"])
