"""Real SMTP servers on 127.0.0.1 for the tests (aiosmtpd).

`SMTPServer` starts an aiosmtpd controller in a thread with the options a
test needs: STARTTLS or implicit TLS (trustme certificates), AUTH, a DSN
extension (stock aiosmtpd 1.4.6 rejects RET/ENVID/NOTIFY/ORCPT with 555 and
never advertises DSN, so `DSNSMTP` lets them through and the handler records
them per recipient), and refusals of chosen senders or recipients.
"""

import asyncio
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

DSN_PARAMS = ("RET", "ENVID", "NOTIFY", "ORCPT")


@dataclass
class Received:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: list
    mail_options: list
    rcpt_options: dict  # recipient -> its RCPT TO parameters
    data: bytes
    login: str | None
    tls: bool
    message: object = field(init=False)

    def __post_init__(self):
        self.message = message_from_bytes(self.data, policy=policy.default)

    def param(self, name, recipient=None):
        """Return a MAIL FROM parameter, or a RCPT TO one for *recipient*."""
        options = self.mail_options if recipient is None else self.rcpt_options[recipient]
        for option in options:
            key, _eq, value = option.partition("=")
            if key.upper() == name:
                return value
        return None


class RecordingHandler:
    """Accept mail, record it, refuse what the test asked to refuse."""

    def __init__(self, *, dsn=False, refuse_rcpt=None, refuse_sender=None, data_replies=(),
                 data_delay=0.0, pipelining=True):
        self.dsn = dsn
        self.pipelining = pipelining
        self.data_delay = data_delay  # seconds before answering DATA (a slow server)
        # Replies to DATA given, in order, before messages are accepted (e.g. "451 ...").
        self.data_replies = list(data_replies)
        self.data_attempts = 0
        self.refuse_rcpt = {k.lower(): v for k, v in (refuse_rcpt or {}).items()}
        self.refuse_sender = {k.lower(): v for k, v in (refuse_sender or {}).items()}
        self.messages = []
        self.connections = 0
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.dsn:
            responses.insert(len(responses) - 1, "250-DSN")
        if getattr(self, "pipelining", True):
            # aiosmtpd 1.4.6 reads commands one by one from a stream, so it handles
            # pipelined groups (RFC 2920) but does not say so: advertise it.
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address.lower() in self.refuse_sender:
            return self.refuse_sender[address.lower()]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.per_rcpt = {}
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse_rcpt:
            return self.refuse_rcpt[address.lower()]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        envelope.per_rcpt[address] = list(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        with self.lock:
            self.data_attempts += 1
            if self.data_replies:
                return self.data_replies.pop(0)
        tls = session.ssl is not None or (
            server.transport is not None
            and server.transport.get_extra_info("ssl_object") is not None
        )
        received = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            mail_options=list(envelope.mail_options),
            rcpt_options=dict(getattr(envelope, "per_rcpt", {})),
            data=envelope.original_content or envelope.content,
            login=session.auth_data if session.authenticated else None,
            tls=tls,
        )
        with self.lock:
            self.messages.append(received)
        return "250 2.0.0 OK queued"


class DSNSMTP(SMTP):
    """aiosmtpd.SMTP that accepts the RFC 3461 parameters (test-only)."""

    def _getparams(self, params):
        result = super()._getparams(params)
        if result is not None:
            for name in DSN_PARAMS:
                result.pop(name, None)
        return result


class _Controller(Controller):
    def __init__(self, handler, *, smtp_class, **kwargs):
        self.smtp_class = smtp_class
        self.sessions = []  # every protocol instance served, to close them on stop()
        super().__init__(handler, **kwargs)

    def factory(self):
        session = self.smtp_class(self.handler, **self.SMTP_kwargs)
        self.sessions.append(session)
        return session

    def stop(self, *args, **kwargs):
        # Python 3.12.1's Server.wait_closed() waits for every open connection, so a
        # server still holding one (a trickling test server) hung stop() for ever:
        # close them first (queued before aiosmtpd's own cleanup on the same loop).
        loop = self.loop
        if not loop.is_closed():
            for session in self.sessions:
                transport = getattr(session, "transport", None)
                if transport is not None:
                    loop.call_soon_threadsafe(transport.close)
        return super().stop(*args, **kwargs)


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SMTPServer:
    """A started aiosmtpd server; stop() it (fixtures do)."""

    host = "127.0.0.1"

    def __init__(self, *, tls="starttls", certificate=None, users=None, auth_required=None,
                 auth_failure=None, dsn=True, refuse_rcpt=None, refuse_sender=None,
                 data_replies=(), handler=None, smtp_options=None, data_delay=0.0,
                 port=None, pipelining=True, smtp_class=None):
        """Start a server.

        tls: None, "starttls" or "ssl" (implicit). certificate: a trustme
        LeafCert. users: {username: password} enables AUTH. auth_failure: the
        reply text of every failed login (e.g. Gmail's 534-5.7.9 lines).
        data_replies: replies to the first DATA commands (e.g. two "451 ..."),
        after which messages are accepted.
        handler: another handler (e.g. one with its own auth_* mechanism);
        smtp_options: more aiosmtpd.smtp.SMTP keyword arguments.
        data_delay: seconds before each reply to DATA. port: listen there (e.g. to
        restart a stopped server).
        """
        self.handler = handler or RecordingHandler(
            dsn=dsn, refuse_rcpt=refuse_rcpt, refuse_sender=refuse_sender,
            data_replies=data_replies, data_delay=data_delay, pipelining=pipelining)
        self.users = dict(users or {})
        self.auth_failure = auth_failure
        self.login_attempts = 0
        self.port = port or free_port()
        kwargs = {}
        context = None
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            certificate.configure_cert(context)
        if tls == "starttls":
            kwargs["tls_context"] = context
            kwargs["require_starttls"] = False
        elif tls == "ssl":
            kwargs["ssl_context"] = context
            kwargs["auth_require_tls"] = False  # aiosmtpd: needed to offer AUTH over implicit TLS
        if self.users:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True if auth_required is None else auth_required
        elif tls != "ssl":
            kwargs["auth_require_tls"] = True
        kwargs.update(smtp_options or {})
        self.controller = _Controller(
            self.handler, smtp_class=smtp_class or (DSNSMTP if dsn else SMTP),
            hostname=self.host, port=self.port, **kwargs,
        )
        self.controller.start()
        self.stopped = False

    @property
    def messages(self):
        return self.handler.messages

    @property
    def username(self):
        return next(iter(self.users), "")

    @property
    def password(self):
        return self.users.get(self.username, "")

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        self.login_attempts += 1
        login = auth_data.login.decode() if isinstance(auth_data.login, bytes) else auth_data.login
        password = auth_data.password
        if isinstance(password, bytes):
            password = password.decode()
        if login in self.users and self.users[login] == password:
            return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False, message=self.auth_failure)

    def stop(self):
        if not self.stopped:  # a test may stop it before the fixture does
            self.stopped = True
            self.controller.stop()


# --- Misbehaving servers (Test SMTP diagnostics) ------------------------------------
# Servers that break in ways SMTPServer cannot: each is bounded (stop() closes every
# socket) and listens on 127.0.0.1 only.


class SilentServer:
    """Accept TCP connections on 127.0.0.1 and never send the SMTP greeting.

    The kernel completes the TCP handshake for a listening socket, so a
    client connects, waits for "220 …" and runs into its timeout: a hung
    server, or an implicit-TLS port spoken to in plain text.
    """

    host = "127.0.0.1"
    username = password = ""  # no AUTH: it never gets that far

    def __init__(self):
        self.sock = socket.create_server((self.host, 0), backlog=16)
        self.port = self.sock.getsockname()[1]

    def stop(self):
        self.sock.close()


def dead_port():
    """Return a port on 127.0.0.1 that refuses connections (bound, then closed)."""
    return free_port()


# --- A counting server (scale tests) ---------------------------------------------


class SessionCounter:
    """Count the connections a CountingSMTP server opened and has open (with ``lock``)."""

    connections = open = peak_open = 0

    def opened(self):
        with self.lock:
            self.connections += 1
            self.open += 1
            self.peak_open = max(self.peak_open, self.open)

    def closed(self):
        with self.lock:
            self.open -= 1


class CountingHandler(SessionCounter):
    """Accept every message without keeping it; count messages and open connections."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = self.connections = self.open = self.peak_open = 0

    def reset(self):
        with self.lock:
            self.messages = self.connections = self.peak_open = 0
            self.open = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        responses.insert(len(responses) - 1, "250-DSN")
        return responses

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages += 1
        return "250 2.0.0 OK queued"


class _CountingSMTP(DSNSMTP):
    _counted_closed = False

    def connection_made(self, transport):
        super().connection_made(transport)
        self.event_handler.opened()

    async def smtp_QUIT(self, arg):
        # The client closes right after QUIT (it does not wait for 221): count the
        # connection closed now, not when this loop gets round to connection_lost,
        # which may come after the client's next connection.
        self._count_closed()
        return await super().smtp_QUIT(arg)

    def connection_lost(self, exc):
        super().connection_lost(exc)
        self._count_closed()

    def _count_closed(self):
        if not self._counted_closed:
            self._counted_closed = True
            self.event_handler.closed()


class CountingServer:
    """A plain (no TLS, no AUTH) server that counts what it gets; stop() it."""

    host = "127.0.0.1"
    username = password = ""

    def __init__(self):
        self.handler = CountingHandler()
        self.port = free_port()
        self.controller = _Controller(self.handler, smtp_class=_CountingSMTP,
                                      hostname=self.host, port=self.port)
        self.controller.start()
        self.controller_ready_connection_closed()

    def controller_ready_connection_closed(self):
        # Controller.start() connects once to check the server: not a client's connection.
        for _ in range(200):
            if self.handler.open == 0:
                break
            threading.Event().wait(0.01)
        self.handler.reset()

    def stop(self):
        self.controller.stop()


class SessionHandler(SessionCounter, RecordingHandler):
    """RecordingHandler that counts sessions (with ``smtp_class=CountingSMTP``).

    ``mail_reply``: replaces the next MAIL FROM reply once (e.g. "421 ..."); ``limit``:
    a session beyond this many open ones gets Exchange's "432 4.3.2" to MAIL FROM;
    ``vanish_after_data``: the next message's connection drops before its 250;
    ``babble_after_data``: the next message is kept and answered with a line that is no SMTP.
    """

    def __init__(self, *, limit=None, **options):
        super().__init__(dsn=True, **options)
        self.limit = limit
        self.refused_busy = 0
        self.mail_reply = None
        self.vanish_after_data = False
        self.babble_after_data = False

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            reply, self.mail_reply = self.mail_reply, None
            if reply is None and self.limit is not None and self.open > self.limit:
                self.refused_busy += 1
                reply = "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"
        if reply is not None:
            return reply
        return await super().handle_MAIL(server, session, envelope, address, mail_options)

    async def handle_DATA(self, server, session, envelope):
        if self.vanish_after_data:
            # The whole message arrived; the connection drops before the 250 leaves.
            self.vanish_after_data = False
            with self.lock:
                self.data_attempts += 1
            server.transport.abort()
            return "250 never sent"
        reply = await super().handle_DATA(server, session, envelope)
        if self.babble_after_data:
            self.babble_after_data = False
            return "Thank you for your message!"
        return reply

    def forget_start_check(self):
        """Forget Controller.start()'s own check connection (not a client's session)."""
        for _ in range(200):
            if self.open == 0:
                break
            threading.Event().wait(0.01)
        with self.lock:
            self.connections = self.peak_open = self.open = 0

    def message_ids(self):
        """Return {Message-ID: times received}."""
        from collections import Counter

        return Counter(m.message["Message-ID"] for m in self.messages)


CountingSMTP = _CountingSMTP
