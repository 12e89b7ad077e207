"""SASL credentials for the SMTP and IMAP logins: which mechanism, and what to answer.

The dialogue (:mod:`symfonia_mail.smtp.dialogue`) asks a credential object
three things, so that other sign-in methods (OAuth2 ``XOAUTH2``) plug in
without touching the protocol code:

``mechanism(offered) -> str | None``
    The one mechanism to use among those the server offers (upper case), or
    None when none fits. One mechanism only: smtplib tries the next after a
    refusal, so one wrong password would count twice towards a lockout.
``initial_response(mechanism) -> Secret | None``
    The base64 initial response sent with ``AUTH <mechanism>`` (RFC 4954 §4).
``answer(mechanism, challenge: bytes) -> Secret``
    The base64 answer to a ``334`` challenge (already base64-decoded).
``scrubber() -> Scrubber``
    Masks the secret, and the forms a server may echo, in replies.
``retry() -> bool`` (optional)
    After a refusal: True to run the exchange once more (a fresh OAuth2 token).
``refused(code, text) -> Exception`` (optional)
    The exception for a final refusal (default ``AuthenticationFailed``).
``username``
    For the report ("PLAIN, mailer").

Everything secret is a :class:`~symfonia_mail.secret.Secret`; the dialogue
reveals it only when writing it to the socket.
"""

import base64
import hmac

from django.utils.translation import gettext_noop

from .exceptions import OAuthError, OAuthLoginRefused
from .secret import Scrubber, Secret, b64


class PasswordLogin:
    """User name + password over CRAM-MD5, PLAIN or LOGIN, in UTF-8.

    smtplib encodes credentials as ASCII, so a Polish password ("zażółć")
    could never log in; RFC 4616 (PLAIN) specifies UTF-8 and servers take it
    for LOGIN too.
    """

    # smtplib's own order of preference.
    preferred = ("CRAM-MD5", "PLAIN", "LOGIN")

    def __init__(self, username, password):
        self.username = username
        self.password = Secret(password)

    def mechanism(self, offered):
        return next((m for m in self.preferred if m in offered), None)

    def initial_response(self, mechanism):
        if mechanism == "PLAIN":
            user = self.username
            return self.password.map(lambda p: b64(f"\0{user}\0{p}"))
        return None

    def answer(self, mechanism, challenge):
        user = self.username
        if mechanism == "CRAM-MD5":
            return self.password.map(lambda p: b64(
                f"{user} " + hmac.HMAC(p.encode("utf-8"), challenge, "md5").hexdigest()))
        if mechanism == "LOGIN" and challenge.lower().startswith(b"user"):
            return Secret(b64(user))
        if mechanism == "LOGIN":
            return self.password.map(b64)
        return Secret("")  # an unknown challenge: an empty answer ends the exchange

    def scrubber(self):
        return Scrubber(self.password, username=self.username)

    def __repr__(self):
        return f"<PasswordLogin {self.username!r}>"


def decode_challenge(text):
    """Return the bytes of a base64 ``334`` challenge (empty when not base64)."""
    try:
        return base64.b64decode(text.strip(), validate=True)
    except ValueError:
        return b""


class XOAuth2Login:
    """OAuth2 sign-in (SASL XOAUTH2) with an access token from :mod:`symfonia_mail.oauth.tokens`.

    *source* is an ``oauth.XOAuth2Credential`` (it fetches and caches tokens).
    A cached token the server refuses (revoked, or a clock jumped) is replaced
    once with a fresh one (:meth:`retry`).
    """

    def __init__(self, username, source):
        self.username = username
        self.source = source
        self._force = False
        self._token = Secret("")

    def mechanism(self, offered):
        if "XOAUTH2" not in offered:
            raise OAuthError("oauth_not_offered",
                             gettext_noop("The server does not offer XOAUTH2 login."))
        return "XOAUTH2"

    def initial_response(self, mechanism):
        self._token = Secret(self.source.token(force=self._force))
        user = self.username
        return self._token.map(lambda token: b64(f"user={user}\x01auth=Bearer {token}\x01\x01"))

    def answer(self, mechanism, challenge):
        return Secret("")  # a refused token gets a JSON challenge; the answer is empty

    def retry(self):
        """Return True (once) when a cached token was refused: log in again with a new one."""
        grant = self.source.grant
        if self._force or grant is None or grant.how != "cached" or not getattr(
                self.source, "retry", True):
            return False
        self._force = True
        return True

    def refused(self, code, text):
        # Imported here: the tokens module loads the models (and the encryption key);
        # the login classes stay importable without them (tests of the dialogue alone).
        from .oauth import tokens as oauth

        oauth.forget(self.source.config)  # the next login asks for a new token
        return OAuthLoginRefused(code, text)

    def scrubber(self):
        return _TokenScrubber(self)

    def __repr__(self):
        return f"<XOAuth2Login {self.username!r}>"


class _TokenScrubber:
    """Masks the current access token (it changes when refreshed)."""

    def __init__(self, login):
        self._login = login

    def __call__(self, text):
        return Scrubber(self._login._token, username=self._login.username)(text)

    def __repr__(self):
        return "<TokenScrubber>"
