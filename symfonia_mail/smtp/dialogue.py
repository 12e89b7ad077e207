"""The one SMTP client of the app: sending and Test SMTP both talk through it.

A :class:`Dialogue` speaks RFC 5321 over a socket it owns: connect (plain or
implicit TLS), EHLO, STARTTLS (RFC 3207), AUTH (RFC 4954, through a
credential object, see :mod:`symfonia_mail.sasl`), and one transaction
per message: MAIL FROM + RCPT TO (with DSN parameters) + DATA, pipelined
(RFC 2920) when the server offers it.

Why not smtplib: its timeout applies to each socket read, so a server that
trickles one byte per second holds the caller forever, and watching each
step (Test SMTP) needed two of its private attributes. Here:

- every server reply must be complete within ``timeout`` seconds of waiting
  for it, and an operation may also run under a total deadline
  (:meth:`Dialogue.within`); see docs/integrator-guide.md ("Deadlines, not timeouts");
- an *observer* (any callable) receives an :class:`Event` for each reply,
  with its timing: Test SMTP builds its report from them;
- server text is scrubbed of the login secrets (and their base64 forms)
  before it goes into an event or an exception;
- errors are smtplib's exception classes (subclassed in
  :mod:`symfonia_mail.exceptions` with plain-text messages), so existing
  ``except smtplib.SMTPException`` clauses keep working.
"""

import math
import re
import smtplib
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from .. import exceptions as exc
from ..sasl import decode_challenge
from ..secret import NO_SCRUB, Secret

CRLF = b"\r\n"
MAX_LINE = 8192  # smtplib's _MAXLINE: a longer reply line is not SMTP
MAX_LINES = 500  # a reply of more lines is not an SMTP server either
_LINE_RE = re.compile(rb"(\d{3})(?:([ -])(.*))?\Z", re.S)
# The domain (or [address literal]) opening a greeting line, after an enhanced status code.
_GREETING_DOMAIN_RE = re.compile(
    r"\A((?:[245]\.\d{1,3}\.\d{1,3}\s+)?)(?:\[[^\]]*\]|[\w-]+(?:\.[\w-]+)+\.?)(?:\s+|\Z)")
_PERIOD_RE = re.compile(rb"(?m)^\.")
_XTEXT_SAFE_RE = re.compile(r"[!-*,-<>-~]*")  # RFC 3461 xtext written as itself
_PLAIN_ADDRESS_RE = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


class Withdrawn(Exception):  # noqa: N818 - what happened, as smtplib names its errors
    """The sender withdrew the message before its content: nothing was sent.

    Raised by :meth:`Dialogue.send` when its *before_replies* check says no;
    the session is closed (a server waiting for the content drops it).
    """


@dataclass(frozen=True)
class Reply:
    """One complete server reply: its code and its text lines (scrubbed)."""

    code: int
    lines: tuple = ()

    @property
    def text(self):
        return "\n".join(self.lines)

    def __str__(self):
        return f"{self.code} {self.text}".rstrip()


@dataclass
class Event:
    """What the observer hears: one step and the reply that ended it."""

    step: str  # greeting, ehlo, starttls, tls, auth, mail, rcpt, data, message, rset
    reply: Reply | None
    seconds: float  # from the start of the step to its reply
    address: str = ""  # the recipient of a "rcpt" event
    detail: str = ""


@dataclass
class Transaction:
    """The replies of one MAIL/RCPT/DATA transaction."""

    refused: dict = field(default_factory=dict)  # address -> (code, text)
    accepted: list = field(default_factory=list)
    reply: Reply | None = None  # the final reply to the message
    pipelined: bool = False
    # Held (send(hold=True)): the content waits to go with the next transaction's group.
    held: bool = False
    error: BaseException | None = None  # a held message's failure, once its reply came


class Dialogue:
    """One SMTP session with one server."""

    def __init__(self, host, port, *, timeout, security="none", context=None,
                 local_hostname="localhost", pipelining=True, observer=None,
                 scrub=NO_SCRUB):
        self.host, self.port, self.timeout = host, port, timeout
        self.security = security
        self.context = context
        self.local_hostname = local_hostname
        self.pipelining = pipelining
        self.observer = observer or (lambda event: None)
        self.scrub = scrub
        self.sock = None
        self.features = {}
        self.tcp_connected = False
        self.greeted = False  # the peer said 220: from here on its text may be quoted
        self.stage = ""  # the step under way (names a failure)
        self.deadline = math.inf
        self._buffer = b""
        self._held = None  # (Transaction, content) of a message whose content waits

    def __repr__(self):
        return f"<Dialogue {self.host}:{self.port} {self.stage or 'idle'}>"

    # -- deadlines -------------------------------------------------------------------

    @contextmanager
    def within(self, seconds):
        """Bound everything in the block by a total of *seconds* (nested: the tighter)."""
        outer = self.deadline
        self.deadline = min(outer, time.monotonic() + seconds)
        try:
            yield
        finally:
            self.deadline = outer

    def _until(self, start):
        """Return the seconds left for one reply that began at *start*."""
        left = min(start + self.timeout, self.deadline) - time.monotonic()
        if left <= 0:
            self.close()  # a late reply would answer the wrong command
            raise exc.ServerTimeout(self.stage, self.timeout)
        return left

    # -- session steps ---------------------------------------------------------------

    def connect(self):
        """Open TCP (and implicit TLS) and read the greeting; return the 220 Reply."""
        self.stage = "connect"
        start = time.monotonic()
        try:
            sock = socket.create_connection((self.host, self.port), self._until(start))
        except TimeoutError:
            raise exc.ServerTimeout("connect", self.timeout) from None
        self.tcp_connected = True
        self.sock = sock
        if self.security == "ssl":
            self.sock = self._handshake(sock, start)
        reply = self._read("greeting", start)
        if reply.code != 220:
            self.close()
            raise exc.GreetingRefused(reply.code, reply.text)
        self.greeted = True
        return reply

    def ehlo(self):
        """Say EHLO (HELO if refused); return the Reply and remember the extensions."""
        reply = self.command("ehlo", f"EHLO {self.local_hostname}")
        if reply.code == 250:
            self.features = _features(reply.lines[1:])
            return reply
        reply = self.command("ehlo", f"HELO {self.local_hostname}")
        if reply.code != 250:
            raise exc.HeloRefused(reply.code, reply.text)
        self.features = {}
        return reply

    def has(self, extension):
        return extension.lower() in self.features

    def starttls(self):
        """Upgrade to TLS (never fall back to plain text); return the STARTTLS Reply."""
        self.stage = "starttls"
        if not self.has("starttls"):
            raise smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server.")
        reply = self.command("starttls", "STARTTLS")
        if reply.code != 220:
            raise exc.ServerReplyError(reply.code, reply.text)
        self.stage = "tls"
        self.sock = self._handshake(self.sock, time.monotonic())
        self._buffer = b""  # RFC 3207 §4.2: discard anything from before TLS
        self.features = {}
        return reply

    def login(self, credential):
        """Authenticate with *credential* (see symfonia_mail.sasl); return the final Reply."""
        self.stage = "auth"
        if not self.has("auth"):
            raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
        offered = self.features["auth"].upper().split()
        mechanism = credential.mechanism(offered)
        if mechanism is None:
            raise smtplib.SMTPException("No suitable authentication method found.")
        for attempt in range(2):
            reply = self._exchange(credential, mechanism)
            if reply.code in (235, 503):  # 503: already authenticated
                return reply
            if attempt == 0 and getattr(credential, "retry", lambda: False)():
                continue
            break
        refused = getattr(credential, "refused", exc.AuthenticationFailed)
        raise refused(reply.code, reply.text)

    def _exchange(self, credential, mechanism):
        """Run one AUTH exchange; return its final reply."""
        initial = credential.initial_response(mechanism)
        if initial is not None:
            command = initial.map(lambda response: f"AUTH {mechanism} {response}".rstrip())
        else:
            command = f"AUTH {mechanism}"
        reply = self.command("auth", command)
        for _round in range(5):  # smtplib's _MAXCHALLENGE: the exchange ends here
            if reply.code != 334:
                return reply
            reply = self.command("auth", credential.answer(mechanism,
                                                           decode_challenge(reply.text)))
        raise smtplib.SMTPException("Server AUTH mechanism did not finish.")

    def send(self, from_addr, recipients, data, mail_options=(), rcpt_options=(), *,
             orcpt=False, hold=False, before_replies=None):
        """Run one transaction; return a Transaction (partial refusals in ``refused``).

        *orcpt*: add each recipient's own ``ORCPT=`` (DSN) to its RCPT TO.
        *before_replies*: a callable run while the server answers the pipelined
        commands (before them when not pipelined); when it returns False the
        content is never sent: the session closes and :class:`Withdrawn` is raised.
        *hold* (pipelined only): after the 354, keep the content unsent and return
        with ``held`` set; it goes in one write with the next transaction's
        MAIL/RCPT/DATA (RFC 2920 §3.1), whose send() reads its reply first, or
        with :meth:`finish`. A held message's outcome lands on its Transaction
        (``reply``, ``error``); a session closed first leaves it unsent (``error``).

        Raise SenderRefused, RecipientsRefused (none accepted) or MessageRefused
        exactly as smtplib's sendmail() would, pipelined or not.
        """
        if not recipients:
            raise ValueError("A message needs at least one recipient.")
        commands = [("mail", "", _command("MAIL FROM:", from_addr, mail_options))]
        commands += [("rcpt", addr, _command(
            "RCPT TO:", addr, (*rcpt_options, orcpt_option(addr)) if orcpt else rcpt_options))
            for addr in recipients]
        commands.append(("data", "", "DATA"))
        payload = _dot_stuffed(data)  # before any write: a bad message sends nothing
        result = Transaction(pipelined=self.pipelining and self.has("pipelining"))
        if not result.pipelined:
            self.finish()  # a content held before PIPELINING went away (not expected)
            self._go_on(before_replies)
        if result.pipelined:
            # RFC 2920 §3.1: MAIL, every RCPT and DATA go in one write, after the content
            # of a held message (whose reply comes first).
            self.stage = "mail"
            self._write_group(b"".join(line.encode("ascii") + CRLF for _s, _a, line in commands))
            self._go_on(before_replies)  # its time overlaps the server's
            replies = []
            for step, addr, _line in commands:
                replies.append(self._read(step, time.monotonic(), address=addr))
                if replies[-1].code == 421:
                    break  # the server is closing: no more replies will come
        else:
            replies = []
            for step, addr, line in commands:
                replies.append(self.command(step, line, address=addr))
                if replies[-1].code == 421 or (step == "mail" and replies[0].code != 250):
                    break
                if step == "rcpt" and addr == recipients[-1] and not any(
                        r.code in (250, 251) for r in replies[1:]):
                    break
        return self._finish(result, from_addr, recipients, replies, payload, hold)

    def _go_on(self, check):
        """Run *check* (if any); close and raise Withdrawn when it says no.

        Its own error closes the session too: the replies it did not wait for
        would answer the next commands.
        """
        if check is None:
            return
        try:
            go_on = check()
        except BaseException:
            self.close()
            raise
        if not go_on:
            self.close()
            raise Withdrawn()

    def _write_group(self, group):
        """Write *group* after a held content, and settle the held message first."""
        held, self._held = self._held, None
        if held is None:
            self._write(group)
            return
        start = time.monotonic()
        try:
            self._write(held[1] + group, start)
        except (OSError, smtplib.SMTPException) as error:
            self.close()
            self._settled(held[0], error=error)
        else:
            self._settle(held[0], start)
        if self.sock is None:  # the session ended with the held message's reply
            self.stage = "mail"
            raise smtplib.SMTPServerDisconnected(
                "The connection was lost before this message's content was sent.")

    def finish(self):
        """Send a held message's content and read its reply; return its Transaction."""
        held, self._held = self._held, None
        if held is None:
            return None
        self.stage = "message"
        start = time.monotonic()
        try:
            self._write(held[1], start)
        except (OSError, smtplib.SMTPException) as error:
            self.close()
            return self._settled(held[0], error=error)
        return self._settle(held[0], start)

    def _settle(self, result, start):
        """Read the reply to a held message's content, already written; record it."""
        try:
            reply = self._read("message", start)
        except (OSError, smtplib.SMTPException) as error:
            self.close()  # after the final ".": the outcome is unknown, never resent
            return self._settled(result, error=error)
        if reply.code == 421:
            self.close()
        refused = None if reply.code == 250 else exc.MessageRefused(reply.code, reply.text)
        return self._settled(result, reply=reply, error=refused)

    @staticmethod
    def _settled(result, *, reply=None, error=None):
        result.held, result.reply, result.error = False, reply, error
        return result

    def _finish(self, result, from_addr, recipients, replies, payload, hold=False):
        mail, rest = replies[0], replies[1:]
        if replies[-1].code == 421:
            self._closing(result, from_addr, recipients, replies)
        for addr, reply in zip(recipients, rest, strict=False):
            if reply.code in (250, 251):
                result.accepted.append(addr)
            else:
                result.refused[addr] = (reply.code, reply.text)
        data_reply = rest[len(recipients)] if len(rest) > len(recipients) else None
        if data_reply is not None and data_reply.code == 354 and (
                mail.code != 250 or not result.accepted):
            # RFC 2920 §3.1: the server took DATA anyway; end it with an empty message.
            self._write(b"." + CRLF)
            self._read("message", time.monotonic())
        if mail.code != 250:
            self._abort(mail.code)
            raise exc.SenderRefused(mail.code, mail.text, from_addr)
        if not result.accepted:
            self._abort(max(code for code, _text in result.refused.values()))
            raise exc.RecipientsRefused(result.refused)
        if data_reply.code != 354:
            self._abort(data_reply.code)
            raise exc.MessageRefused(data_reply.code, data_reply.text)
        if hold and result.pipelined:
            result.held = True
            self._held = (result, payload)
            return result
        self.stage = "message"
        start = time.monotonic()
        self._write(payload, start)
        result.reply = self._read("message", start)
        if result.reply.code != 250:
            self._abort(result.reply.code)
            raise exc.MessageRefused(result.reply.code, result.reply.text)
        return result

    def _closing(self, result, from_addr, recipients, replies):
        """Raise what smtplib raises when the server says 421 (closing) mid-transaction."""
        self.close()
        last = replies[-1]
        if len(replies) == 1:
            raise exc.SenderRefused(last.code, last.text, from_addr)
        if len(replies) <= len(recipients) + 1:
            refused = {addr: (reply.code, reply.text)
                       for addr, reply in zip(recipients, replies[1:], strict=False)
                       if reply.code not in (250, 251)}
            for addr in recipients[len(replies) - 1:]:
                refused[addr] = (last.code, last.text)
            raise exc.RecipientsRefused(refused)
        raise exc.MessageRefused(last.code, last.text)

    def _abort(self, code):
        """After a refusal: 421 means the server is gone; otherwise reset the transaction."""
        if code == 421:
            self.close()
        else:
            self.rset()

    def rset(self):
        """Reset the transaction, ignoring errors (the connection may be gone)."""
        try:
            self.command("rset", "RSET")
        except (OSError, smtplib.SMTPException):
            self.close()

    def quit(self):
        """Say QUIT and close, ignoring a server that is already gone.

        The 221 reply is not awaited (as Postfix's client does by default,
        ``smtp_skip_quit_response``): every message of the session has its own
        reply already, and a single send_mail saves one round trip.
        """
        try:
            if self.sock is not None:
                self.stage = "quit"
                self._write("QUIT")
        except (OSError, smtplib.SMTPException):
            pass
        finally:
            self.close()

    def close(self):
        sock, self.sock = self.sock, None
        self._buffer = b""
        held, self._held = self._held, None
        if held is not None:  # its content never left: the server drops the transaction
            self._settled(held[0], error=smtplib.SMTPServerDisconnected(
                "The connection was closed before the message's content was sent."))
        if sock is not None:
            sock.close()

    def noop(self):
        """Check the connection is alive; return the NOOP reply code."""
        return self.command("noop", "NOOP").code

    # -- the wire ----------------------------------------------------------------------

    def command(self, step, line, *, address=""):
        """Send one command (str or Secret) and return its Reply."""
        self.stage = step
        start = time.monotonic()
        self._write(line, start)
        return self._read(step, start, address=address)

    def _write(self, data, start=None):
        if self.sock is None:
            raise smtplib.SMTPServerDisconnected("Not connected to the server.")
        start = time.monotonic() if start is None else start
        if isinstance(data, Secret):
            # The one place a login secret is revealed: straight onto the socket.
            self.sock.settimeout(self._until(start))
            self.sock.sendall(data.reveal().encode("utf-8") + CRLF)
            return
        if isinstance(data, str):
            data = data.encode("ascii") + CRLF
        # DATA may take longer than a reply: the caller's deadline bounds it (within()).
        self.sock.settimeout(max(self.deadline - time.monotonic(), 0.001)
                             if self.deadline != math.inf else self.timeout)
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise exc.ServerTimeout(self.stage, self.timeout) from None

    def _read(self, step, start, *, address=""):
        """Read one whole reply before its deadline and tell the observer."""
        self.stage = step
        lines, code = [], None
        while True:
            line = self._line(start)
            match = _LINE_RE.match(line)
            if match is None or (code is not None and int(match[1]) != code):
                self.close()
                raise exc.NotAnSMTPServer()
            code = int(match[1])
            lines.append(self.scrub((match[3] or b"").strip()))
            if match[2] != b"-":
                break
            if len(lines) >= MAX_LINES:
                self.close()
                raise exc.NotAnSMTPServer()
        if step == "greeting" and code != 220:
            # A refusal keeps its words ("421 Service not available…", issue 19) but not
            # the host name a greeting starts with (RFC 5321 §4.2): Test SMTP is no
            # probe of what answers on a port (issue 10).
            lines = [_GREETING_DOMAIN_RE.sub(r"\1", line, count=1) for line in lines]
        reply = Reply(code, tuple(lines))
        self.observer(Event(step, reply, time.monotonic() - start, address))
        return reply

    def _line(self, start):
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[:end], self._buffer[end + 1:]
                return line.rstrip(b"\r")
            if len(self._buffer) > MAX_LINE:
                self.close()
                raise exc.NotAnSMTPServer()
            if self.sock is None:
                raise smtplib.SMTPServerDisconnected("Not connected to the server.")
            self.sock.settimeout(self._until(start))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                self.close()
                raise exc.ServerTimeout(self.stage, self.timeout) from None
            if not chunk:
                self.close()
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            self._buffer += chunk

    def _handshake(self, sock, start):
        tls = self.context.wrap_socket(sock, server_hostname=self.host,
                                       do_handshake_on_connect=False)
        # CPython bounds the whole handshake by the socket timeout (one deadline).
        tls.settimeout(self._until(start))
        try:
            tls.do_handshake()
        except TimeoutError:
            tls.close()
            raise exc.ServerTimeout("tls", self.timeout) from None
        except BaseException:
            tls.close()
            raise
        self.observer(Event("tls", None, time.monotonic() - start, detail=tls_summary(tls)))
        return tls


def tls_summary(sock):
    """Return "TLSv1.3 TLS_AES_256_GCM_SHA384" for a TLS socket."""
    return f"{sock.version()} {sock.cipher()[0]}"


def _features(lines):
    features = {}
    for line in lines:
        name, _sp, params = line.partition(" ")
        features[name.lower()] = params.strip()
    return features


def orcpt_option(address):
    """Return the ORCPT parameter that names *address* in delivery reports (RFC 3461 §4.2)."""
    # RFC 3461 §4: xtext — "+", "=" and bytes outside "!".."~" are written as "+HH".
    encoded = address if _XTEXT_SAFE_RE.fullmatch(address) else "".join(
        chr(byte) if 0x21 <= byte <= 0x7E and byte not in b"+=" else f"+{byte:02X}"
        for byte in address.encode("utf-8")
    )
    return f"ORCPT=rfc822;{encoded}"


def _command(verb, address, options):
    # A plain address is what smtplib.quoteaddr's parsing (a third of a message's own
    # command-building time) would give back unchanged, in angle brackets.
    quoted = f"<{address}>" if _PLAIN_ADDRESS_RE.fullmatch(address) else smtplib.quoteaddr(
        address)
    text = f"{verb}{quoted}"
    return " ".join((text, *options)) if options else text


def _dot_stuffed(data):
    """Return *data* (bytes) with leading periods doubled and the final ``.`` line."""
    if isinstance(data, str):
        data = data.encode("ascii")
    data = _PERIOD_RE.sub(b"..", data)
    if not data.endswith(CRLF):
        data += CRLF
    return data + b"." + CRLF
