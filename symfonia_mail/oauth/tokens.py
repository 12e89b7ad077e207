"""OAuth2 access tokens for the XOAUTH2 login: Microsoft 365 (through MSAL) and Google.

Access tokens are cached per process until shortly before they expire. The
expiry is the provider's relative ``expires_in`` counted on this machine's
clock, so a provider whose clock is off does not matter; a token the server
refuses anyway (our clock jumped) is dropped and replaced once.

A refresh token is read from the database under a row lock right before it is
used, and a rotated one is saved in the same transaction: two processes that
refresh at once take turns, and the second uses the token the first saved.
"""

import functools
import hashlib
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils.translation import gettext_noop

from .. import conf
from ..exceptions import OAuthError
from ..fields import UnreadableSecret
from ..models import AuthMethod, GlobalMailConfig, UserMailConfig
from .codes import checked_answer, unreachable

# Microsoft: unattended sign-in (client credentials) asks for the app's own permissions
# (SMTP.SendAsApp); delegated sign-in for SMTP.Send (MSAL adds offline_access, openid,
# profile itself and refuses them in this list).
MICROSOFT_APP_SCOPE = "https://outlook.office365.com/.default"
MICROSOFT_DELEGATED_SCOPE = "https://outlook.office.com/SMTP.Send"
# IMAP (delivery reports, the Sent copy): delegated IMAP.AccessAsUser.All; the app-only
# token (.default, with the IMAP.AccessAsApp role) and Google's scope serve both protocols.
MICROSOFT_IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All"
GOOGLE_SCOPE = "https://mail.google.com/"
# The mailbox APIs (DESIGN §11): Graph's application permissions come with its .default;
# delegated Mail.Send (MSAL adds offline_access itself); Google's gmail.send is only
# "sensitive", where SMTP's https://mail.google.com/ is "restricted".
GRAPH_APP_SCOPE = "https://graph.microsoft.com/.default"
GRAPH_DELEGATED_SCOPE = "https://graph.microsoft.com/Mail.Send"
GMAIL_SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"
DEFAULT_MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"

REFRESH_MARGIN = 300  # seconds: replace a cached token this long before it expires


@dataclass(frozen=True, repr=False)
class Grant:
    """An access token and how it was obtained (never shown in a repr)."""

    access_token: str
    expires_at: float  # time.time() of this machine
    lifetime: float  # seconds, as the provider said
    how: str  # "acquired" (first), "refreshed", or "cached"
    flow: str  # "client_credentials" or "refresh_token"

    @property
    def expires_in(self):
        return max(0, round(self.expires_at - time.time()))

    def fresh(self, now):
        """Return True while the token is good for a login (with a safety margin)."""
        return now < self.expires_at - min(REFRESH_MARGIN, self.lifetime / 4)

    def __repr__(self):
        return f"<Grant {self.how} {self.flow} expires_in={self.expires_in}>"


_cache: dict[tuple[object, ...], Grant] = {}  # cache key -> Grant
_locks: dict[tuple[object, ...], threading.Lock] = {}
_locks_guard = threading.Lock()
_apps: dict[tuple[object, ...], Any] = {}  # (authority, client id, secret digest) -> MSAL app


def _digest(secret):
    return hashlib.sha256(str(secret or "").encode()).hexdigest()[:16]


def service(config):
    """Return whose token *config* needs: "graph", "gmail" or "smtp" (XOAUTH2)."""
    return {"microsoft_graph": "graph", "gmail_api": "gmail"}.get(config.transport, "smtp")


# service -> (unattended scope, delegated scope): an Exchange SMTP token is no Graph token.
MICROSOFT_SCOPES = {"smtp": (MICROSOFT_APP_SCOPE, MICROSOFT_DELEGATED_SCOPE),
                    "graph": (GRAPH_APP_SCOPE, GRAPH_DELEGATED_SCOPE)}


def microsoft_scope(config, *, delegated, purpose="smtp"):
    """Return the Microsoft scope for *purpose* (sending, or "imap"): app-only or delegated.

    Sending uses the service of *config*'s transport; the mailbox side is always
    Exchange's IMAP (its app-only ``.default`` carries IMAP.AccessAsApp).
    """
    if purpose == "imap":
        return MICROSOFT_IMAP_SCOPE if delegated else MICROSOFT_APP_SCOPE
    app, user = MICROSOFT_SCOPES.get(service(config), MICROSOFT_SCOPES["smtp"])
    return user if delegated else app


def google_scope(config):
    """Return the Google scopes *config* asks consent for (space-separated)."""
    if service(config) != "gmail":
        return GOOGLE_SCOPE  # SMTP's XOAUTH2 scope opens IMAP too
    if getattr(config, "imap_host", ""):
        return f"{GMAIL_SEND_SCOPE} {GOOGLE_SCOPE}"  # the API to send, IMAP for reports
    return GMAIL_SEND_SCOPE


def cache_key(config):
    """Return the key of *config*'s access token: changing any credential changes it."""
    return (config.key, config.auth_method, config.oauth_tenant, config.oauth_client_id,
            config.username.lower(), _digest(config.oauth_client_secret), service(config))


def _lock_for(key):
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def delegated_scopes(config):
    """Return the Microsoft scopes a delegated sign-in asks consent for."""
    sending = microsoft_scope(config, delegated=True)
    if getattr(config, "imap_host", ""):
        return [sending, MICROSOFT_IMAP_SCOPE]
    return [sending]


def access_token(config, *, force=False, record=False, purpose="smtp"):
    """Return a Grant for *config*: the cached token, or a new one when needed.

    *force* skips the cache (the server refused the cached token). *record*
    writes a failure onto the stored configuration, so the admin shows the
    connection as broken, and clears it after a success. *purpose* is
    ``smtp`` or ``imap``: Microsoft's delegated tokens differ per protocol.
    """
    key = (*cache_key(config), purpose)
    with _lock_for(key):
        grant = _cache.get(key)
        if grant is not None and not force and grant.fresh(time.time()):
            return replace(grant, how="cached")
        try:
            new = _obtain(config, purpose)
        except OAuthError as exc:
            _cache.pop(key, None)
            if record:
                # "code answer": the admin shows the code's hint in the reader's language.
                _rows(config).update(oauth_problem=f"{exc.code} {exc.provider_answer()}"[:2000])
            raise
        if grant is not None or new.flow == "refresh_token":
            new = replace(new, how="refreshed")
        _cache[key] = new
        if record:
            _rows(config).exclude(oauth_problem="").update(oauth_problem="")
        return new


def forget(config=None):
    """Drop cached tokens (of *config*, or all); the next login asks the provider again."""
    if config is None:
        _cache.clear()
    else:
        for purpose in ("smtp", "imap"):
            _cache.pop((*cache_key(config), purpose), None)


def kind_of_sign_in(config):
    """Return "client_credentials", "refresh_token" or "" (not connected)."""
    if config.oauth_refresh_token:
        return "refresh_token"
    if config.auth_method == AuthMethod.MICROSOFT365 and config.oauth_client_secret:
        return "client_credentials"
    return ""


def _obtain(config, purpose="smtp"):
    flow = kind_of_sign_in(config)
    if not flow:
        raise OAuthError("oauth_not_connected",
                         gettext_noop("No account is connected for OAuth2 sign-in."))
    started = time.time()
    if flow == "client_credentials":
        answer = _microsoft_app_token(config, purpose)
    else:
        if config.auth_method == AuthMethod.MICROSOFT365:
            scope = microsoft_scope(config, delegated=True, purpose=purpose)
            exchange = functools.partial(_microsoft_refresh, scope=scope)
        else:
            exchange = _google_refresh
        answer = _refresh(config, exchange)
    lifetime = float(answer.get("expires_in") or 3600)
    return Grant(answer["access_token"], started + lifetime, lifetime, "acquired", flow)


# --- refresh tokens: read under a lock, rotated ones saved ---------------------------

def _rows(config):
    """Return the queryset of *config*'s stored row."""
    if config.user_id is None:
        return GlobalMailConfig.objects.filter(pk=GlobalMailConfig.SINGLETON_PK)
    return UserMailConfig.objects.filter(user_id=config.user_id)


def _refresh(config, exchange):
    """Run *exchange(refresh_token)* with the stored token locked; save a rotated one."""
    with transaction.atomic():
        rows = _rows(config)
        if not connection.features.has_select_for_update:
            # SQLite has no row locks: a write takes the database's write lock until
            # commit, so a second process waits here instead of using the same token.
            rows.update(oauth_tenant=F("oauth_tenant"))
        row = rows.select_for_update().only("pk", "oauth_refresh_token").first()
        token = row.oauth_refresh_token if row is not None else config.oauth_refresh_token
        if not token:
            raise OAuthError("oauth_not_connected",
                             gettext_noop("No account is connected any more."))
        if isinstance(token, UnreadableSecret):
            raise OAuthError("oauth_unreadable_secret",
                             gettext_noop("The stored OAuth2 sign-in cannot be decrypted."))
        answer = exchange(config, token)
        rotated = answer.get("refresh_token")
        if row is not None and rotated and rotated != token:
            rows.update(oauth_refresh_token=rotated)
    return answer


# --- Microsoft (MSAL) --------------------------------------------------------------

def authority_url(tenant):
    return f"{conf.get('MICROSOFT_AUTHORITY').rstrip('/')}/{tenant}"


def _secret(config):
    secret = config.oauth_client_secret or ""
    if isinstance(secret, UnreadableSecret):
        raise OAuthError("oauth_unreadable_secret",
                         gettext_noop("The stored client secret cannot be decrypted."))
    return secret


def verify_setting():
    """Return requests' ``verify=``: SSL_CERT_FILE, else REQUESTS_CA_BUNDLE, else certifi.

    The token endpoints are trusted like the SMTP server, whose TLS context
    honours SSL_CERT_FILE; requests ignores that variable, so it is passed on.
    """
    return os.environ.get("SSL_CERT_FILE") or os.environ.get("REQUESTS_CA_BUNDLE") or True


def _http_client(timeout):
    """Return a requests session for MSAL that passes verify= on every request.

    A session's own ``verify`` loses to REQUESTS_CA_BUNDLE from the environment
    (requests issue #3829); a per-request value does not.
    """
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.mount("https://", HTTPAdapter(max_retries=1))
    session.request = functools.partial(session.request, timeout=timeout,
                                        verify=verify_setting())
    return session


def msal_app(config):
    """Return the MSAL application for *config* (built once per credentials)."""
    import msal

    authority = authority_url(config.oauth_tenant)
    secret = _secret(config)
    key = (authority, config.oauth_client_id, _digest(secret))
    app = _apps.get(key)
    if app is not None:
        return app
    options = {"authority": authority, "http_client": _http_client(config.timeout)}
    if conf.get("MICROSOFT_AUTHORITY").rstrip("/") != DEFAULT_MICROSOFT_AUTHORITY:
        # Another authority (a national cloud, the tests' loopback endpoint).
        options.update(instance_discovery=False, validate_authority=False)
    try:
        if secret:
            app = msal.ConfidentialClientApplication(
                config.oauth_client_id, client_credential=secret, **options)
        else:
            app = msal.PublicClientApplication(config.oauth_client_id, **options)
    except ValueError as exc:  # MSAL: the tenant's discovery document was refused
        raise OAuthError("oauth_tenant_not_found",
                         gettext_noop("Microsoft does not know the directory %(tenant)s."),
                         params={"tenant": repr(config.oauth_tenant)},
                         error_codes=[90002], description=str(exc)) from None
    except OSError as exc:
        raise unreachable(exc) from None
    _apps[key] = app
    return app


def _microsoft_app_token(config, purpose="smtp"):
    app = msal_app(config)
    # Our cache decides when to ask: MSAL would otherwise hand back its own copy of a
    # token the server just refused.
    for entry in list(app.token_cache.search(app.token_cache.CredentialType.ACCESS_TOKEN)):
        app.token_cache.remove_at(entry)
    try:
        result = app.acquire_token_for_client(
            scopes=[microsoft_scope(config, delegated=False, purpose=purpose)])
    except OSError as exc:
        raise unreachable(exc) from None
    return checked_answer(result, "Microsoft")


def _microsoft_refresh(config, token, scope):
    app = msal_app(config)
    try:
        result = app.acquire_token_by_refresh_token(token, scopes=[scope])
    except OSError as exc:
        raise unreachable(exc) from None
    return checked_answer(result, "Microsoft")


# --- Google (a plain token request) -----------------------------------------------

def google_token_request(config, fields):
    """POST *fields* with the client's credentials to Google's token endpoint."""
    import requests

    data = {"client_id": config.oauth_client_id, "client_secret": _secret(config), **fields}
    try:
        response = requests.post(conf.get("GOOGLE_TOKEN_URL"), data=data,
                                 timeout=config.timeout, verify=verify_setting())
    except OSError as exc:
        raise unreachable(exc) from None
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": f"HTTP {response.status_code}"}
    return checked_answer(answer, "Google")


def _google_refresh(config, token):
    # Google's access token carries the scopes granted at "Connect" (google_scope()).
    return google_token_request(config, {"grant_type": "refresh_token", "refresh_token": token})


# --- what the SMTP login sends ------------------------------------------------------

class XOAuth2Credential:
    """Stands in for the password: the login asks it for a fresh access token."""

    def __init__(self, config, *, record=False, retry=True, purpose="smtp"):
        self.config = config
        self.purpose = purpose  # smtp | imap: which protocol's token
        self.record = record
        self.retry = retry  # False: a refused token is reported, not replaced (Test SMTP)
        self.grant = None

    def __bool__(self):
        return True  # Django's backend logs in only when the password is truthy

    def __repr__(self):
        return f"<XOAuth2Credential {self.config.key} {self.config.auth_method}>"

    def token(self, *, force=False):
        self.grant = access_token(self.config, force=force, record=self.record,
                                  purpose=self.purpose)
        return self.grant.access_token


def xoauth2_string(user, token):
    """Return the SASL XOAUTH2 initial response (before base64)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"
