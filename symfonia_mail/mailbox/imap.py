"""The IMAP client of a configuration's mailbox (stdlib ``imaplib``).

TLS as for SMTP (the configuration's CA list, its certificate check),
STARTTLS or TLS from the start; sign-in with the password (SASL PLAIN in
UTF-8, else LOGIN) or XOAUTH2 with the configuration's OAuth2 tokens (IMAP
scopes). Every socket operation waits at most ``timeout_ms``. Messages are
read with ``BODY.PEEK`` (``\\Seen`` stays as it was); the only writes are a
keyword on processed reports and APPEND of the Sent copy.
"""

import base64
import imaplib
import re
import socket
import ssl

from ..config.allowed import server_allowed
from ..exceptions import MailboxError, OAuthError, ServerNotAllowed
from ..models import AuthMethod, Security
from ..oauth import tokens as oauth
from ..sasl import PasswordLogin, XOAuth2Login
from ..secret import NO_SCRUB
from ..tls import tls_context
from . import folders as folder_names

FETCH_UID = re.compile(rb"UID (\d+)")
FETCH_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")


def credential_for(config, *, record=True, retry=True):
    """Return the IMAP login credential of *config*: its OAuth2 tokens or a password."""
    if config.auth_method != AuthMethod.PASSWORD:
        source = oauth.XOAuth2Credential(config, record=record, retry=retry, purpose="imap")
        return XOAuth2Login(config.imap_username or config.username, source)
    username, password = config.imap_login()
    return PasswordLogin(username, password)


class ImapSession:
    """One IMAP session of a configuration's mailbox: open, use, close (or ``with``)."""

    def __init__(self, config, *, record=True, retry=True, credential=None):
        self.config = config
        self.credential = credential or credential_for(config, record=record, retry=retry)
        self.scrub = self.credential.scrubber() if self.credential else NO_SCRUB
        self.imap = None
        self.stage = ""

    def __repr__(self):
        return f"<ImapSession {self.config.key} {self.config.imap_server}>"

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc_info):
        self.close()

    # --- the session -----------------------------------------------------------------

    def open(self):
        """Connect, secure and log in; on failure nothing stays open."""
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self):
        config = self.config
        if not config.imap_host:
            raise MailboxError("connect", f"{config.label} has no IMAP server.")
        if config.restricted and not server_allowed(config.imap_host, config.imap_port):
            raise ServerNotAllowed(config.imap_server)
        with self.step("connect"):
            if config.imap_security == Security.SSL:
                self.imap = imaplib.IMAP4_SSL(config.imap_host, config.imap_port,
                                              ssl_context=self._context(),
                                              timeout=config.timeout)
            else:
                self.imap = imaplib.IMAP4(config.imap_host, config.imap_port,
                                          timeout=config.timeout)
        if config.imap_security == Security.STARTTLS:
            with self.step("tls"):
                self.imap.starttls(ssl_context=self._context())
        # imaplib writes an APPEND's literal and its closing CRLF separately: without
        # NODELAY, Nagle holds the CRLF until the server's delayed ACK (40 ms a message).
        with self.step("connect"):
            self.imap.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._login()

    def _context(self):
        return tls_context(self.config.verify_certificate, self.config.ca_certificates)

    def _login(self):
        credential = self.credential
        offered = {cap[5:] for cap in self.imap.capabilities if cap.startswith("AUTH=")}
        with self.step("login"):
            for _round in range(2):
                mechanism = credential.mechanism(offered)
                if mechanism is None:
                    return self._plain_login(credential)
                try:
                    self.imap.authenticate(mechanism, _Answers(credential, mechanism))
                    return None
                except imaplib.IMAP4.error:
                    retry = getattr(credential, "retry", None)
                    if retry is not None and retry():
                        continue  # a cached OAuth2 token was refused: once with a new one
                    if hasattr(credential, "refused"):
                        oauth.forget(self.config)
                    raise
        return None

    def _plain_login(self, credential):
        """Use IMAP's LOGIN command (no SASL mechanism fits); ASCII only (imaplib)."""
        # Revealed only in the call's arguments: a local would show on Django's DEBUG page.
        if not (credential.username.isascii() and credential.password.reveal().isascii()):
            raise MailboxError("login", f"{self.config.imap_server} offers no SASL PLAIN "
                               "login, and its LOGIN command takes only ASCII user names and "
                               "passwords.")
        self.imap.login(credential.username, credential.password.reveal())

    def close(self):
        """Log out (within the deadline) and close, never raising."""
        imap, self.imap = self.imap, None
        if imap is None:
            return
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            try:
                imap.shutdown()
            except OSError:
                pass

    # --- commands --------------------------------------------------------------------

    def step(self, stage):
        """Return a context that turns failures of *stage* into MailboxError."""
        return _Step(self, stage)

    def _ok(self, stage, answer):
        kind, data = answer
        if kind != "OK":
            text = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
            raise imaplib.IMAP4.error(f"{kind} {text}")
        return data

    def folders(self):
        """Return every folder of the mailbox (LIST "" "*")."""
        with self.step("list"):
            return folder_names.parse_list(self._ok("list", self.imap.list('""', '"*"')))

    def sent_folder(self):
        """Return the configured Sent folder, else the discovered one; None when none."""
        return self.config.sent_folder or folder_names.sent_folder(self.folders())

    def select(self, folder, *, readonly=False):
        """Select *folder*; return (UIDVALIDITY, message count)."""
        with self.step("select"):
            self._ok("select", self.imap.select(folder_names.quoted(folder), readonly))
            exists = int((self.imap.untagged_responses.get("EXISTS") or [b"0"])[-1])
            uidvalidity = self.imap.untagged_responses.get("UIDVALIDITY") or [b"0"]
            return int(uidvalidity[-1]), exists

    def permanent_keywords(self):
        """Return whether the selected folder keeps new keywords (PERMANENTFLAGS \\*)."""
        flags = self.imap.untagged_responses.get("PERMANENTFLAGS") or [b""]
        return b"\\*" in flags[-1]

    def search_above(self, last_uid, since=None):
        """Return the UIDs above *last_uid* (arrived on or after *since*), ascending."""
        criteria = [f"UID {last_uid + 1}:*"]
        if since is not None:
            criteria.append(f"SINCE {since:%d-%b-%Y}")
        with self.step("search"):
            data = self._ok("search", self.imap.uid("SEARCH", *criteria))
        uids = sorted({int(n) for line in data if line for n in line.split()})
        return [uid for uid in uids if uid > last_uid]  # "n:*" always names the last one

    def fetch(self, uids, items):
        """Return [(uid, flags, literal bytes)] of ``UID FETCH uids (items)``."""
        if not uids:
            return []
        with self.step("fetch"):
            data = self._ok("fetch", self.imap.uid("FETCH", _uid_set(uids), f"({items})"))
        return parse_fetch(data)

    def add_keyword(self, uids, keyword):
        """Add *keyword* to the flags of *uids* (never removes any flag)."""
        if not uids:
            return
        with self.step("store"):
            self._ok("store", self.imap.uid("STORE", _uid_set(uids), "+FLAGS.SILENT",
                                            f"({keyword})"))

    def append(self, folder, data, flags="(\\Seen)"):
        """Append the message *data* (bytes) to *folder* with *flags*."""
        with self.step("append"):
            self._ok("append", self.imap.append(folder_names.quoted(folder), flags, None, data))


class _Answers:
    """imaplib's AUTHENTICATE callback: the credential's answers, base64-decoded."""

    def __init__(self, credential, mechanism):
        self.credential = credential
        self.mechanism = mechanism
        self.first = True

    def __call__(self, challenge):
        first, self.first = self.first, False
        response = self.credential.initial_response(self.mechanism) if first else None
        if response is None:
            response = self.credential.answer(self.mechanism, challenge or b"")
        return base64.b64decode(response.reveal())  # imaplib encodes it again


class _Step:
    """Map imaplib, socket and TLS errors of one stage to MailboxError (scrubbed)."""

    def __init__(self, session, stage):
        self.session = session
        self.stage = stage

    def __enter__(self):
        self.session.stage = self.stage
        return self

    def __exit__(self, kind, error, traceback):
        if error is None or isinstance(error, MailboxError | OAuthError | ServerNotAllowed):
            return False
        if not isinstance(error, imaplib.IMAP4.error | OSError | ssl.SSLError | ValueError):
            return False
        session = self.session
        text = session.scrub(str(error) or type(error).__name__)
        what = "timed out" if isinstance(error, TimeoutError) else "failed"
        raise MailboxError(self.stage, f"IMAP {session.config.imap_server}: {self.stage} "
                                       f"{what}: {text}", cause=error) from None


def _uid_set(uids):
    """Return the IMAP sequence set of *uids* with runs as ranges ("1:500,503").

    A batch of consecutive UIDs stays one short range: servers cap a command
    line (Dovecot at 64 KiB), which 10,000 listed UIDs would exceed.
    """
    parts = []
    ordered = sorted(set(uids))
    start = previous = ordered[0] if ordered else 0
    for uid in ordered[1:]:
        if uid != previous + 1:
            parts.append(f"{start}:{previous}" if previous > start else str(start))
            start = uid
        previous = uid
    if ordered:
        parts.append(f"{start}:{previous}" if previous > start else str(start))
    return ",".join(parts)


def parse_fetch(data):
    """Return [(uid, flags, literal)] from an imaplib FETCH answer."""
    result = []
    for item in data:
        if isinstance(item, tuple):
            uid = FETCH_UID.search(item[0])
            flags = FETCH_FLAGS.search(item[0])
            result.append([int(uid.group(1)) if uid else 0,
                           flags.group(1).decode(errors="replace").split() if flags else [],
                           item[1]])
        elif isinstance(item, bytes) and result:
            # Items after the literal: "UID 7 FLAGS (...))" may follow it.
            uid = FETCH_UID.search(item)
            flags = FETCH_FLAGS.search(item)
            if uid and not result[-1][0]:
                result[-1][0] = int(uid.group(1))
            if flags and not result[-1][1]:
                result[-1][1] = flags.group(1).decode(errors="replace").split()
    return [(uid, flags, literal) for uid, flags, literal in result if uid]
