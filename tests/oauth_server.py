"""A loopback OAuth2 identity platform and an SMTP server that takes only its tokens.

`TokenEndpoint` serves HTTPS on 127.0.0.1 (a trustme certificate) with the
shapes of the real services, so MSAL and our Google requests talk to it as
they would to the providers:

- Microsoft: ``GET /<tenant>/v2.0/.well-known/openid-configuration`` (discovery),
  ``POST /<tenant>/oauth2/v2.0/token`` (grants client_credentials,
  refresh_token, authorization_code with PKCE) and ``GET
  /<tenant>/oauth2/v2.0/authorize`` (answers at once with a redirect back,
  as after the user's consent). Errors are Microsoft's JSON:
  ``{"error", "error_description": "AADSTS…: … Trace ID: …", "error_codes",
  "timestamp", "trace_id", "correlation_id", "error_uri"}``.
- Google: ``POST /google/token`` and ``GET /google/auth``; errors
  ``{"error": "invalid_grant", "error_description": "Token has been expired or
  revoked."}``.

Refresh tokens rotate when ``rotate`` is on and a used one is dead at once
(reuse detection, stricter than Microsoft, which keeps the old one valid for a
while): a lost rotation shows up as ``invalid_grant``. ``skew`` moves the
endpoint's clock (``timestamp``, ``expires_on``); ``delay`` slows every token
answer. `XOAuth2Handler` is an aiosmtpd handler that offers ``AUTH XOAUTH2``
only and accepts only a live token this endpoint issued for that mailbox.
"""

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlsplit

from aiosmtpd.smtp import AuthResult

from .api_mirror import serve_https
from .smtpd import RecordingHandler

MS_APP_SCOPE = "https://outlook.office365.com/.default"
MS_SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"
MS_IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All"
GOOGLE_SCOPE = "https://mail.google.com/"
GRAPH_APP_SCOPE = "https://graph.microsoft.com/.default"
GRAPH_SEND_SCOPE = "https://graph.microsoft.com/Mail.Send"
GMAIL_SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"
SMTP_SCOPES = {MS_APP_SCOPE, MS_SMTP_SCOPE, GOOGLE_SCOPE}
# Microsoft: the scope asked for -> the scope its token carries (one resource per token).
MS_APP_SCOPES = {MS_APP_SCOPE, GRAPH_APP_SCOPE}
MS_DELEGATED_SCOPES = {MS_SMTP_SCOPE, GRAPH_SEND_SCOPE}


class TokenEndpoint:
    """The identity platform's state, and an HTTPS server answering for it."""

    def __init__(self, certificate, *, tenant="firma.onmicrosoft.com", client_id="app-1",
                 client_secret="app-secret-1", mailbox="biuro@firma.example"):  # noqa: S107
        self.tenant = tenant
        self.client_id = client_id
        self.client_secret = client_secret
        self.mailbox = mailbox
        self.expires_in = 3599
        self.rotate = True
        self.skew = 0  # seconds added to this endpoint's clock
        self.delay = 0.0  # seconds before each token answer
        self.secret_expired = False
        self.consent_granted = True
        self.lock = threading.Lock()
        self.access_tokens = {}  # token -> (subject, expires at, monotonic)
        self.token_scopes = {}  # access token -> the scope it was issued for
        # Microsoft Graph permissions granted to the app (roles) or the user (scp).
        self.graph_permissions = {"Mail.Send", "Mail.ReadWrite"}
        self.refresh_tokens = {}  # token -> {"subject", "alive", "provider"}
        self.codes = {}  # authorization code -> pending request
        self.requests = []  # (path, grant_type, refresh token used or "")
        self.httpd, self.thread = serve_https(_handler_for(self), certificate)
        self.port = self.httpd.server_address[1]

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def settings(self):
        """Return the SYMFONIA_MAIL keys that point the app at this endpoint."""
        return {"MICROSOFT_AUTHORITY": self.url, "GOOGLE_TOKEN_URL": f"{self.url}/google/token",
                "GOOGLE_AUTH_URL": f"{self.url}/google/auth"}

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    # --- tokens -----------------------------------------------------------------

    def issue_refresh_token(self, subject=None, provider="microsoft", scope=None):
        token = f"rt-{provider}-{secrets.token_urlsafe(24)}"
        if scope is None and provider == "google":
            scope = GOOGLE_SCOPE
        with self.lock:
            self.refresh_tokens[token] = {"subject": subject or self.mailbox, "alive": True,
                                          "provider": provider, "scope": scope}
        return token

    def revoke_all(self):
        with self.lock:
            for state in self.refresh_tokens.values():
                state["alive"] = False

    def expire_access_tokens(self):
        """Make the SMTP side refuse every token issued so far (its clock is ahead)."""
        with self.lock:
            for token, (subject, _expires) in list(self.access_tokens.items()):
                self.access_tokens[token] = (subject, time.monotonic() - 1)

    def token_valid(self, token, mailbox, scopes=None):
        """Return True for a live token of *mailbox* (or the app) issued for one of *scopes*."""
        with self.lock:
            subject, expires = self.access_tokens.get(token, (None, 0))
            scope = self.token_scopes.get(token, "").partition(" ")[0]
        allowed = (mailbox.lower(), f"app:{self.client_id}")
        return (subject is not None and subject.lower() in allowed
                and time.monotonic() < expires and (scopes is None or scope in scopes))

    def scope_of(self, token):
        """Return the scope an access token of this endpoint was issued for ("" if none)."""
        with self.lock:
            return self.token_scopes.get(token, "")

    def introspect(self, token):
        """Return the RFC 7662 introspection answer for *token* (what Dovecot's oauth2 asks).

        An application's token (client credentials) acts for the mailbox it was
        granted, as Exchange's IMAP.AccessAsApp with a mailbox permission does.
        """
        with self.lock:
            subject, expires = self.access_tokens.get(token, (None, 0))
        # A delegated SMTP.Send token does not open the mailbox over IMAP (as at Microsoft).
        if (subject is None or time.monotonic() >= expires
                or self.token_scopes.get(token, "").split()[:1] == [MS_SMTP_SCOPE]):
            return {"active": False}
        username = self.mailbox if subject.startswith("app:") else subject
        return {"active": True, "username": username, "client_id": self.client_id}

    def grants(self, grant_type=None):
        return [r for r in self.requests if grant_type is None or r[1] == grant_type]

    def _new_access_token(self, subject, scope=""):
        token = "at-" + secrets.token_urlsafe(32)
        if scope.partition(" ")[0] in (GRAPH_APP_SCOPE, GRAPH_SEND_SCOPE):
            # Graph's tokens are JWTs naming the permissions: roles (app) or scp (user).
            claim = ({"roles": sorted(self.graph_permissions)} if subject.startswith("app:")
                     else {"scp": " ".join(sorted(self.graph_permissions))})
            claims = {"aud": "https://graph.microsoft.com", "sub": subject, **claim}
            header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            token = f"{header}.{_b64url(json.dumps(claims).encode())}.{token}"
        with self.lock:
            self.access_tokens[token] = (subject, time.monotonic() + self.expires_in)
            self.token_scopes[token] = scope
        return token

    def now(self):
        return int(time.time() + self.skew)

    def ms_error(self, status, error, code, text):
        trace, correlation = uuid.uuid4(), uuid.uuid4()
        stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(self.now()))
        return status, {
            "error": error,
            "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: "
                                 f"{correlation} Timestamp: {stamp}",
            "error_codes": [code], "timestamp": stamp, "trace_id": str(trace),
            "correlation_id": str(correlation),
            "error_uri": f"{self.url}/error?code={code}",
        }

    def token_answer(self, subject, scope, *, refresh_token=None, id_token=None, microsoft=True):
        answer = {"token_type": "Bearer", "scope": scope, "expires_in": self.expires_in,
                  "access_token": self._new_access_token(subject, scope)}
        if microsoft:
            answer["ext_expires_in"] = self.expires_in
            answer["expires_on"] = self.now() + self.expires_in  # the endpoint's own clock
        if refresh_token:
            answer["refresh_token"] = refresh_token
        if id_token:
            answer["id_token"] = id_token
        return 200, answer

    def use_refresh_token(self, token, provider):
        """Return (subject, rotated token or None) or None when the token is dead."""
        with self.lock:
            state = self.refresh_tokens.get(token)
            if state is None or not state["alive"] or state["provider"] != provider:
                return None
            if self.rotate:
                state["alive"] = False
        rotated = (self.issue_refresh_token(state["subject"], provider, state.get("scope"))
                   if self.rotate else None)
        return state["subject"], rotated


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _id_token(issuer, audience, nonce, username, now):
    header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    claims = {"iss": issuer, "aud": audience, "nonce": nonce, "iat": now, "nbf": now,
              "exp": now + 3600, "sub": "user-1", "preferred_username": username,
              "tid": "00000000-0000-0000-0000-000000000001"}
    return f"{header}.{_b64url(json.dumps(claims).encode())}."


def _pkce_ok(pending, verifier):
    if not verifier:
        return False
    challenge = _b64url(hashlib.sha256(verifier.encode()).digest())
    return pending.get("code_challenge") == challenge and (
        pending.get("code_challenge_method") == "S256")


def _handler_for(endpoint):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def redirect(self, location):
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            parts = url.path.strip("/").split("/")
            if parts[0] == "google" and parts[1:] == ["auth"]:
                return self.authorize(query, "google")
            if parts[0] != endpoint.tenant:
                return self.answer(*endpoint.ms_error(
                    400, "invalid_request", 90002,
                    f"Tenant '{parts[0]}' not found. Check to make sure you have the correct "
                    "tenant ID and are signing into the correct cloud."))
            if parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                base = f"{endpoint.url}/{endpoint.tenant}"
                return self.answer(200, {
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "issuer": f"{base}/v2.0",
                    "token_endpoint_auth_methods_supported": [
                        "client_secret_post", "private_key_jwt", "client_secret_basic"],
                    "response_types_supported": ["code", "id_token", "code id_token"],
                    "scopes_supported": ["openid", "profile", "email", "offline_access"],
                })
            if parts[1:] == ["oauth2", "v2.0", "authorize"]:
                return self.authorize(query, "microsoft")
            return self.answer(404, {"error": "not_found"})

        def authorize(self, query, provider):
            """Grant at once (as after the user's consent) and redirect back with a code."""
            code = "code-" + secrets.token_urlsafe(16)
            endpoint.codes[code] = {**query, "provider": provider}
            params = {"code": code, "state": query.get("state", "")}
            if provider == "microsoft":
                params["session_state"] = str(uuid.uuid4())
            else:
                params["scope"] = query.get("scope", "")
            self.redirect(f"{query['redirect_uri']}?{urlencode(params)}")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            grant = form.get("grant_type", "")
            endpoint.requests.append((self.path, grant, form.get("refresh_token", "")))
            if endpoint.delay:
                time.sleep(endpoint.delay)
            if self.path == "/google/token":
                return self.answer(*self.google(form, grant))
            if self.path != f"/{endpoint.tenant}/oauth2/v2.0/token":
                return self.answer(*endpoint.ms_error(400, "invalid_request", 90002,
                                                      "Tenant not found."))
            return self.answer(*self.microsoft(form, grant))

        def client_ok(self, form):
            return (form.get("client_id") == endpoint.client_id
                    and form.get("client_secret") == endpoint.client_secret)

        def microsoft(self, form, grant):
            if form.get("client_id") != endpoint.client_id:
                return endpoint.ms_error(400, "unauthorized_client", 700016,
                                         "Application with identifier was not found in the "
                                         "directory.")
            if endpoint.secret_expired and "client_secret" in form:
                return endpoint.ms_error(401, "invalid_client", 7000222,
                                         "The provided client secret keys for app are expired.")
            if "client_secret" in form and not self.client_ok(form):
                return endpoint.ms_error(401, "invalid_client", 7000215,
                                         "Invalid client secret provided.")
            scopes = set(form.get("scope", "").split())
            if grant == "client_credentials":
                if len(scopes) != 1 or not scopes <= MS_APP_SCOPES:
                    return endpoint.ms_error(400, "invalid_scope", 1002012, "Invalid scope.")
                if not endpoint.consent_granted:
                    return endpoint.ms_error(400, "invalid_grant", 65001,
                                             "The user or administrator has not consented to "
                                             "use the application.")
                return endpoint.token_answer(f"app:{endpoint.client_id}", scopes.pop())
            # A refresh for the mailbox side asks IMAP's scope alone; otherwise exactly one
            # sending scope (Exchange SMTP or Graph), with offline_access.
            sending = scopes & MS_DELEGATED_SCOPES
            if grant == "refresh_token" and MS_IMAP_SCOPE in scopes:
                asked = MS_IMAP_SCOPE
            else:
                asked = min(sending) if len(sending) == 1 else ""
            if not asked or "offline_access" not in scopes:
                return endpoint.ms_error(400, "invalid_scope", 70011, "The provided scope is "
                                         "not valid.")
            if grant == "refresh_token":
                used = endpoint.use_refresh_token(form.get("refresh_token"), "microsoft")
                if used is None:
                    return endpoint.ms_error(400, "invalid_grant", 70000,
                                             "The provided grant has expired due to it being "
                                             "revoked.")
                subject, rotated = used
                return endpoint.token_answer(subject, asked + " offline_access",
                                             refresh_token=rotated)
            if grant == "authorization_code":
                pending = endpoint.codes.pop(form.get("code"), None)
                if pending is None or pending["redirect_uri"] != form.get("redirect_uri") or \
                        not _pkce_ok(pending, form.get("code_verifier")):
                    return endpoint.ms_error(400, "invalid_grant", 54005,
                                             "OAuth2 Authorization code was already redeemed "
                                             "or is not valid.")
                subject = pending.get("login_hint") or endpoint.mailbox
                issuer = f"{endpoint.url}/{endpoint.tenant}/v2.0"
                return endpoint.token_answer(
                    subject, f"{asked} offline_access",
                    refresh_token=endpoint.issue_refresh_token(subject),
                    id_token=_id_token(issuer, endpoint.client_id, pending.get("nonce"),
                                       subject, endpoint.now()))
            return endpoint.ms_error(400, "unsupported_grant_type", 70003, "Unsupported grant.")

        def google(self, form, grant):
            if not self.client_ok(form):
                return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
            if grant == "refresh_token":
                used = endpoint.use_refresh_token(form.get("refresh_token"), "google")
                if used is None:
                    return 400, {"error": "invalid_grant",
                                 "error_description": "Token has been expired or revoked."}
                subject, rotated = used
                scope = endpoint.refresh_tokens.get(rotated or form.get("refresh_token"),
                                                    {}).get("scope") or GOOGLE_SCOPE
                return endpoint.token_answer(subject, scope, refresh_token=rotated,
                                             microsoft=False)
            if grant == "authorization_code":
                pending = endpoint.codes.pop(form.get("code"), None)
                if pending is None or not _pkce_ok(pending, form.get("code_verifier")) or \
                        pending.get("scope") not in (GOOGLE_SCOPE, GMAIL_SEND_SCOPE):
                    return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
                subject = pending.get("login_hint") or endpoint.mailbox
                scope = pending["scope"]
                return endpoint.token_answer(
                    subject, scope, microsoft=False,
                    refresh_token=endpoint.issue_refresh_token(subject, "google", scope))
            return 400, {"error": "unsupported_grant_type"}

    return Handler


class XOAuth2Handler(RecordingHandler):
    """Record mail; log in only with SASL XOAUTH2 and a live token of *endpoint*."""

    def __init__(self, endpoint, **kwargs):
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.logins = []  # (mailbox, token, accepted)

    async def auth_XOAUTH2(self, server, args):
        if len(args) > 1:
            blob = args[1].encode()
        else:
            blob = await server.challenge_auth("", encode_to_b64=False)
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)
        fields = dict(part.split("=", 1) for part in
                      base64.b64decode(blob).decode().split("\x01") if "=" in part)
        mailbox = fields.get("user", "")
        token = fields.get("auth", "").removeprefix("Bearer ")
        # An Exchange or Gmail SMTP server takes only tokens for its own resource.
        accepted = self.endpoint.token_valid(token, mailbox, SMTP_SCOPES)
        self.logins.append((mailbox, token, accepted))
        if accepted:
            return AuthResult(success=True, auth_data=mailbox)
        # Google's and Microsoft's way: a JSON challenge, the client answers empty, then 535.
        status = json.dumps({"status": "401", "schemes": "bearer",
                             "scope": GOOGLE_SCOPE}).encode()
        await server.challenge_auth(status)
        return AuthResult(success=False, handled=False,
                          message="535 5.7.3 Authentication unsuccessful")
