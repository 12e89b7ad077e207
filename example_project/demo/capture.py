"""A local capture SMTP server for the demo: STARTTLS + AUTH, every message saved as .eml.

It listens on 127.0.0.1 only, advertises DSN (stock aiosmtpd refuses the
RFC 3461 parameters, so they are let through here) and refuses one address,
so the demo can show what a refused recipient looks like. It logs one line per
event (logger ``demo.capture``): a connection (its EHLO), a message saved, a refused
recipient, a failed TLS handshake; aiosmtpd's own chatter stays out of the console.
"""

import logging
import ssl
import threading
from datetime import datetime
from pathlib import Path

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, TLSSetupException

# The demo's "contractor whose mail server refuses the address" (seeded by sales).
from sales.demo_data import REFUSED_ADDRESS

log = logging.getLogger("demo.capture")


class _QuietAiosmtpd(logging.Filter):
    """Drop aiosmtpd 1.4's warning about its own deprecated attribute (on every login)."""

    def filter(self, record):
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_QuietAiosmtpd())

USERNAME = "demo"
PASSWORD = "demo-password"


class _Handler:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # Logged at the first EHLO, not at connect: the controller's own start-up probe
        # connects too. A client says EHLO again after STARTTLS: one connection, one line.
        if session.ssl is None:
            log.info("%s: connection (EHLO %s)", _peer(session), hostname)
        session.host_name = hostname
        responses.insert(len(responses) - 1, "250-DSN")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() == REFUSED_ADDRESS:
            log.info("%s: recipient %s refused (the demo's refused address)",
                     _peer(session), address)
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            name = f"{datetime.now():%Y%m%d-%H%M%S}-{self.count:04d}.eml"
        envelope_lines = (
            f"X-Envelope-From: {envelope.mail_from} {' '.join(envelope.mail_options)}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        (self.folder / name).write_bytes(envelope_lines + envelope.original_content)
        log.info("%s: message from %s to %s saved as %s", _peer(session), envelope.mail_from,
                 ", ".join(envelope.rcpt_tos), self.folder / name)
        return "250 2.0.0 OK: saved as " + name


def _peer(session):
    host, port = session.peer[:2] if isinstance(session.peer, tuple) else (session.peer, "")
    return f"{host}:{port}"


class _DSNSMTP(SMTP):
    ca_file = None  # set by the controller: named when a client does not trust it

    async def handle_exception(self, error):
        """Log one line for a failed session instead of aiosmtpd's traceback."""
        if isinstance(error, TLSSetupException):
            cause = error.__cause__
            reason = getattr(cause, "reason", None) or cause or "handshake failed"
            hint = (f": the client does not trust the demo CA ({self.ca_file})"
                    if "UNKNOWN_CA" in str(reason) else "")
            log.warning("%s: TLS handshake failed (%s)%s", _peer(self.session), reason, hint)
            return "454 4.7.0 TLS handshake failed"
        log.error("%s: session failed: %s: %s", _peer(self.session),
                  type(error).__name__, error)
        return f"500 Error: ({type(error).__name__}) {error}"

    def _getparams(self, params):
        result = super()._getparams(params)
        if result is not None:
            for name in ("RET", "ENVID", "NOTIFY", "ORCPT"):
                result.pop(name, None)
        return result


class _Controller(Controller):
    ca_file = None

    def factory(self):
        smtp = _DSNSMTP(self.handler, **self.SMTP_kwargs)
        smtp.ca_file = self.ca_file
        return smtp


def _authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USERNAME.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


class CaptureServer:
    """Start with start(); its CA (``ca_pem``) must be trusted by the sending configuration.

    The demo CA is kept in *ca_file* (and its key beside it), so the certificate a
    configuration stored yesterday still verifies today's server.
    """

    def __init__(self, folder, port, ca_file):
        self.folder = Path(folder)
        self.port = port
        self.ca_file = Path(ca_file)
        self.key_file = self.ca_file.with_name(self.ca_file.stem + "-key.pem")
        self.ca_pem = ""

    def _ca(self):
        if self.ca_file.exists() and self.key_file.exists():
            try:
                return trustme.CA.from_pem(self.ca_file.read_bytes(), self.key_file.read_bytes())
            except ValueError:
                pass  # damaged: make a new one
        ca = trustme.CA(organization_name="symfonia_mail demo")
        self.ca_file.parent.mkdir(parents=True, exist_ok=True)
        ca.cert_pem.write_to_path(str(self.ca_file))
        ca.private_key_pem.write_to_path(str(self.key_file))
        self.key_file.chmod(0o600)
        return ca

    def start(self):
        ca = self._ca()
        self.ca_pem = ca.cert_pem.bytes().decode()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.controller = _Controller(
            _Handler(self.folder), hostname="127.0.0.1", port=self.port,
            tls_context=context, authenticator=_authenticate, auth_required=True,
        )
        self.controller.ca_file = self.ca_file
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()
