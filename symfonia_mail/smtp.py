"""One SMTP connection per configuration, with RFC 3461 delivery status notifications.

`ConfigTransport` is Django's own SMTP backend bound to a ResolvedConfig: it
reuses Django's open/close (timeouts, STARTTLS, login, DNS_NAME) and extends
it only at the stable seams: `connection_class` and `ssl_context`, plus
`smtplib.SMTP.sendmail(..., mail_options, rcpt_options)` for DSN.
"""

import base64
import hmac
import smtplib
import ssl
import uuid
from dataclasses import dataclass, field

from django.core.mail.backends import smtp as django_smtp
from django.utils.functional import cached_property
from django.views.decorators.debug import sensitive_variables

from . import conf, oauth
from .exceptions import OAuthError, OAuthLoginRefused
from .models import AuthMethod, Security

# RFC 3461 §4.1: the NOTIFY keywords for Symfonia's (.NET) DeliveryNotificationOptions.
NOTIFY_KEYWORDS = {
    "OnSuccess": "SUCCESS", "OnFailure": "FAILURE", "Delay": "DELAY", "Never": "NEVER",
}


class _SingleLoginMixin:
    """Log in with one AUTH mechanism, not every one the server offers, in UTF-8.

    smtplib's login() retries with the next mechanism after a refusal, so one
    wrong password costs two failed logins, which counts double towards a
    provider's lockout. A refusal is final here.
    """

    # smtplib's own order of preference (a local variable of SMTP.login there).
    preferred_auths = ("CRAM-MD5", "PLAIN", "LOGIN")

    @sensitive_variables("password")
    def login(self, user, password, *, initial_response_ok=True):
        self.ehlo_or_helo_if_needed()
        if not self.has_extn("auth"):
            raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
        offered = self.esmtp_features["auth"].upper().split()
        if isinstance(password, oauth.XOAuth2Credential):
            return self.login_xoauth2(user, password, offered)
        mechanism = next((m for m in self.preferred_auths if m in offered), None)
        if mechanism is None:
            raise smtplib.SMTPException("No suitable authentication method found.")
        self.user, self.password = user, password
        method = getattr(self, "auth_" + mechanism.lower().replace("-", "_"))
        try:
            return self.auth(mechanism, method, initial_response_ok=initial_response_ok)
        finally:
            self.password = None  # do not keep the secret on a long-lived object

    @sensitive_variables("initial")
    def auth(self, mechanism, authobject, *, initial_response_ok=True):
        """Run an AUTH exchange, sending credentials as UTF-8.

        smtplib encodes them as ASCII, so a Polish password ("zażółć") could
        never log in; RFC 4616 (PLAIN) specifies UTF-8 and servers take it
        for LOGIN too.
        """
        mechanism = mechanism.upper()
        initial = authobject() if initial_response_ok else None
        if initial is not None:
            code, reply = self.docmd("AUTH", f"{mechanism} {_b64(initial)}")
        else:
            code, reply = self.docmd("AUTH", mechanism)
        for _round in range(5):  # smtplib's _MAXCHALLENGE: a loop ends here
            if code != 334:
                break
            code, reply = self.docmd(_b64(authobject(base64.decodebytes(reply))))
        else:
            raise smtplib.SMTPException("Server AUTH mechanism did not finish.")
        if code in (235, 503):
            return code, reply
        raise smtplib.SMTPAuthenticationError(code, reply)

    @sensitive_variables("token")
    def login_xoauth2(self, user, credential, offered):
        """Log in with SASL XOAUTH2; a cached token the server refuses is replaced once."""
        if "XOAUTH2" not in offered:
            raise OAuthError("oauth_not_offered", "The server does not offer XOAUTH2 login.")
        for attempt in range(2):
            token = credential.token(force=attempt > 0)  # refused: revoked, or a clock jumped
            answer = oauth.xoauth2_string(user, token)
            try:
                # A refused token gets a JSON challenge (334); the answer to it is empty.
                return self.auth("XOAUTH2", lambda challenge=None, a=answer: "" if challenge
                                 else a)
            except smtplib.SMTPAuthenticationError as exc:
                if attempt or credential.grant.how != "cached" or not credential.retry:
                    oauth.forget(credential.config)  # the next login asks for a new one
                    raise OAuthLoginRefused(exc.smtp_code, exc.smtp_error) from None
        raise AssertionError("unreachable")

    def auth_cram_md5(self, challenge=None):
        if challenge is None:
            return None
        digest = hmac.HMAC(self.password.encode("utf-8"), challenge, "md5").hexdigest()
        return f"{self.user} {digest}"


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class SMTPConnection(_SingleLoginMixin, smtplib.SMTP):
    """smtplib.SMTP with a single login attempt."""


class SMTPSSLConnection(_SingleLoginMixin, smtplib.SMTP_SSL):
    """smtplib.SMTP_SSL (implicit TLS) with a single login attempt."""


@sensitive_variables("config")
def login_secret(config, *, record=False, retry=True):
    """Return what login() sends for *config*: its password, or an XOAUTH2 credential."""
    if config.auth_method == AuthMethod.PASSWORD:
        return config.checked_password()
    return oauth.XOAuth2Credential(config, record=record, retry=retry)


def tls_context(verify=True, ca_certificates=""):
    """Return a client TLS context: system trust store, or unverified when told so.

    *ca_certificates* (PEM) are trusted instead of the system store: a
    configuration's own company certificate authority.
    """
    if ca_certificates:
        from .certificates import context as ca_context

        context = ca_context(ca_certificates)
    else:
        context = ssl.create_default_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR
    if not verify or not conf.get("VERIFY_CERTIFICATES"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def notify_value(flags):
    """Return the RCPT TO NOTIFY= value for DSN flags (None: ask nothing)."""
    keywords = [NOTIFY_KEYWORDS[f] for f in flags if f in NOTIFY_KEYWORDS]
    if not keywords:
        return None
    if "NEVER" in keywords:
        return "NEVER"  # RFC 3461 §4.1: NEVER excludes the other values.
    return ",".join(keywords)


@dataclass
class Delivery:
    """What the server said about one message."""

    refused: dict = field(default_factory=dict)  # recipient -> (code, reply)
    dsn_requested: str = ""  # the NOTIFY= value sent, "" when none
    envelope_id: str = ""
    note: str = ""


class ConfigTransport(django_smtp.EmailBackend):
    """Django's SMTP backend bound to one ResolvedConfig."""

    @sensitive_variables("config")
    def __init__(self, config):
        self.config = config
        super().__init__(
            host=config.host,
            port=config.port,
            username=config.username,
            password=login_secret(config, record=True),
            use_tls=config.security == Security.STARTTLS,
            use_ssl=config.security == Security.SSL,
            timeout=config.timeout,
            fail_silently=False,
        )

    def __repr__(self):
        return f"<ConfigTransport {self.config.key} {self.config.server}>"

    @property
    def connection_class(self):
        return SMTPSSLConnection if self.use_ssl else SMTPConnection

    @cached_property
    def ssl_context(self):
        return tls_context(self.config.verify_certificate, self.config.ca_certificates)

    def deliver(self, from_addr, recipients, data):
        """Send *data* to *recipients* over the open connection; return a Delivery."""
        self.open()
        connection = self.connection
        delivery = Delivery()
        mail_options, rcpt_options = [], []
        notify = notify_value(self.config.dsn_notify)
        if notify:
            connection.ehlo_or_helo_if_needed()
            if connection.has_extn("dsn"):
                delivery.envelope_id = uuid.uuid4().hex
                delivery.dsn_requested = notify
                mail_options = ["RET=HDRS", f"ENVID={delivery.envelope_id}"]
                rcpt_options = [f"NOTIFY={notify}"]
            else:
                delivery.note = (
                    f"Delivery notifications ({notify}) were requested but the server does "
                    "not offer DSN; the message was sent without them."
                )
        delivery.refused = connection.sendmail(
            from_addr, recipients, data, mail_options, rcpt_options
        )
        return delivery

    def discard(self):
        """Drop a connection that failed, without raising."""
        try:
            self.close()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self.connection = None
            self._partial_connection = None
