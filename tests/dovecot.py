"""A private Dovecot IMAP server on 127.0.0.1 for the mailbox tests (not the system one).

Its own configuration file, ``base_dir`` and state under one temporary
directory; two listeners on free ports of 127.0.0.1: ``imap`` (plain, with
STARTTLS) and ``imaps`` (TLS from the start), both with a trustme
certificate. It serves the Maildirs that the private Postfix of
tests/postfix.py delivers into (``<postfix root>/mail/<domain>/<user>/``), so a
real bounce lands in the sender's INBOX and is read back over IMAP.

Sign-in:
- passwords: a ``passwd-file`` (``add_user()`` makes a fresh mailbox per test);
- XOAUTH2: Dovecot's ``oauth2`` passdb asks an RFC 7662 introspection URL
  (``introspection_mode = post``) on a small loopback HTTP server of this
  module, which answers for the suite's token endpoint of the running test
  (tests/oauth_server.py, set with ``trust(endpoint)``): a token is active
  while that endpoint says it is live, for the mailbox it was issued to.

Starting Dovecot needs root (it drops to ``dovenull``/``nobody`` itself).
"""

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from .postfix import listening, running
from .smtpd import free_port

POOL = 200  # fresh mailbox users made before starting (add_user)
MAIL_UID = 65534  # nobody: owns the Maildirs (Postfix's virtual(8) delivers as it)

DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = symfonia-dovecot-{port}
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/etc/cert.pem
ssl_key = <{root}/etc/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_verbose = yes
first_valid_uid = 1
# A test server: no fsync per delivered or appended message (the tests are not about disks).
mail_fsync = never
mail_location = maildir:~
mail_uid = {uid}
mail_gid = {uid}
default_login_user = dovenull
default_internal_user = dovecot
login_trusted_networks =
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/etc/users
  mechanisms = plain login
}}
passdb {{
  driver = oauth2
  args = {root}/etc/oauth2.conf
  mechanisms = xoauth2 oauthbearer
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={mail}/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""

OAUTH2_CONF = """\
introspection_mode = post
introspection_url = http://127.0.0.1:{port}/introspect
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""


class DovecotError(RuntimeError):
    """The private Dovecot could not be started."""


class Introspection:
    """An RFC 7662 introspection endpoint answering for the current token endpoint."""

    def __init__(self):
        self.endpoint = None  # tests/oauth_server.TokenEndpoint of the running test
        self.requests = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _introspection_handler(self))
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, token):
        endpoint = self.endpoint
        if endpoint is None:
            return {"active": False}
        return endpoint.introspect(token)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def _introspection_handler(introspection):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            introspection.requests += 1
            body = json.dumps(introspection.answer((form.get("token") or [""])[0])).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class Dovecot:
    """A started private Dovecot; stop() it (the session fixture does)."""

    host = "127.0.0.1"

    def __init__(self, root, mail, port, ssl_port, introspection):
        self.root = Path(root)
        self.mail = Path(mail)
        self.port = port
        self.ssl_port = ssl_port
        self.introspection = introspection
        self.users = {}  # address -> password
        self.pool = []  # (address, password) made before starting, handed out by add_user
        self.started = False

    @property
    def config_file(self):
        return self.root / "etc" / "dovecot.conf"

    def add_user(self, name=None, domain="dsn.test", password=None):
        """Return (address, password) of a fresh mailbox user, made at start or now.

        Dovecot looks at the passwd-file at most once a second: a user written
        now is only usable after that, so the fresh ones come from a pool made
        before starting; one with a given *name* or *password* costs a second.
        """
        if name is None and password is None and self.pool:
            return self.pool.pop()
        address = f"{name or 'box-' + secrets.token_hex(4)}@{domain}"
        self.users[address] = password or secrets.token_urlsafe(12)
        self.write_users()
        if self.started:
            time.sleep(1.1)
        return address, self.users[address]

    def write_users(self):
        lines = "".join(f"{user}:{{PLAIN}}{secret}\n" for user, secret in self.users.items())
        path = self.root / "etc" / "users"
        temporary = path.with_suffix(".new")
        temporary.write_text(lines)
        temporary.chmod(0o644)
        temporary.replace(path)

    def trust(self, endpoint):
        """Accept the access tokens of *endpoint* (a tests.oauth_server.TokenEndpoint)."""
        self.introspection.endpoint = endpoint

    def log_text(self):
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log(self):
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"

    def stop(self):
        """Stop the instance, wait (bounded) until its master exits, remove its files."""
        try:
            subprocess.run([_binary(), "-c", str(self.config_file), "stop"],
                           capture_output=True, timeout=30, check=False)
            pid_file = self.root / "run" / "master.pid"
            deadline = time.monotonic() + 10
            while running(pid_file) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            self.introspection.stop()
            shutil.rmtree(self.root, ignore_errors=True)


def start(certificate, mail_root=None):
    """Configure and start a private Dovecot serving Maildirs under *mail_root*; return it.

    *certificate* is a trustme LeafCert; *mail_root* the folder holding
    ``<domain>/<user>/`` Maildirs (default: a fresh one inside the instance).
    """
    if _binary() is None:
        raise DovecotError("Dovecot is not installed; `make test` installs it "
                           "(dovecot-imapd in TEST_APT).")
    if os.geteuid() != 0:
        raise DovecotError("Starting a private Dovecot needs root (CI and `make test` run "
                           "as root); run the other tests with -m 'not dovecot'.")
    root = Path(tempfile.mkdtemp(prefix="symfonia-dovecot-"))
    root.chmod(0o755)
    for name in ("etc", "run", "state"):
        (root / name).mkdir()
    mail = Path(mail_root) if mail_root else root / "mail"
    mail.mkdir(parents=True, exist_ok=True)
    os.chown(mail, MAIL_UID, MAIL_UID)
    for child in mail.iterdir():
        os.chown(child, MAIL_UID, MAIL_UID)
    introspection = Introspection()
    instance = Dovecot(root, mail, free_port(), free_port(), introspection)
    etc = root / "etc"
    (etc / "cert.pem").write_bytes(b"".join(p.bytes() for p in certificate.cert_chain_pems))
    certificate.private_key_pem.write_to_path(str(etc / "key.pem"))
    (etc / "key.pem").chmod(0o600)
    (etc / "oauth2.conf").write_text(OAUTH2_CONF.format(port=introspection.port))
    instance.add_user("nadawca")
    for _number in range(POOL):
        address = f"box-{secrets.token_hex(4)}@dsn.test"
        instance.users[address] = secrets.token_urlsafe(12)
        instance.pool.append((address, instance.users[address]))
    instance.write_users()
    instance.config_file.write_text(DOVECOT_CONF.format(
        root=root, mail=mail, uid=MAIL_UID, port=instance.port, ssl_port=instance.ssl_port))
    # The master forks into the background and keeps its inherited output open: a file,
    # not a pipe, so that this call returns.
    with (root / "start.out").open("w+") as output:
        process = subprocess.run([_binary(), "-c", str(instance.config_file)],
                                 stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                                 timeout=60, check=False)
        output.seek(0)
        said = output.read()
    if process.returncode != 0 or not all(
            listening(instance.host, port) for port in (instance.port, instance.ssl_port)):
        log = instance.log()
        instance.stop()
        raise DovecotError(f"Dovecot did not start (exit {process.returncode}):\n"
                           f"{said}\n{log}")
    instance.started = True
    return instance


def _binary():
    return shutil.which("dovecot", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
