"""A private Postfix instance on 127.0.0.1 for the DSN tests (not the system one).

Its own configuration directory (``postfix -c DIR``), queue and data
directories under one temporary directory; one SMTP listener on an ephemeral
port of 127.0.0.1. Mail for ``@dsn.test`` is delivered by virtual(8) into
Maildirs (``mailbox(local)``); ``@localhost`` goes to local(8), which accepts
every address at RCPT (``local_recipient_maps =``) and bounces unknown users
afterwards, so a real non-delivery report comes back.

Starting Postfix needs root (it drops to the ``postfix`` user itself); CI runs
as root. When it cannot start, :func:`start` raises :class:`PostfixError`
with Postfix's own words (it only writes them to a terminal, so they are read
through a pseudo-terminal) and its log.
"""

import email
import email.policy
import os
import pty
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .smtpd import free_port

DOMAIN = "dsn.test"
MAILBOXES = ("nadawca", "odbiorca")  # the Maildirs of DOMAIN
MAIL_UID = 65534  # nobody: owns the Maildirs (virtual(8) refuses root)

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
meta_directory = /etc/postfix
myhostname = mta.{domain}
mydomain = {domain}
myorigin = $myhostname
mydestination = localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Accept any localhost user at RCPT; local(8) bounces the unknown ones afterwards.
local_recipient_maps =
alias_maps =
alias_database =
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = texthash:{root}/etc/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{uid}
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
smtputf8_enable = no
biff = no
smtpd_banner = $myhostname ESMTP
delay_warning_time = 0
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
"""

# No chroot (the private queue has no chroot files); one smtpd on our own port.
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


class PostfixError(RuntimeError):
    """The private Postfix instance could not be started or stopped."""


class Postfix:
    """A started private Postfix; stop() it (the session fixture does)."""

    host = "127.0.0.1"

    def __init__(self, root, port):
        self.root = Path(root)
        self.port = port
        self.config_dir = self.root / "etc"

    def address(self, mailbox):
        return f"{mailbox}@{DOMAIN}"

    def maildir(self, mailbox):
        return self.root / "mail" / DOMAIN / mailbox / "new"

    def messages(self, mailbox):
        """Return the messages delivered to *mailbox* so far, parsed."""
        folder = self.maildir(mailbox)
        if not folder.is_dir():
            return []
        return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                for path in sorted(folder.iterdir())]

    def wait_for(self, mailbox, predicate, timeout=20):
        """Return the first message of *mailbox* matching *predicate*; poll until *timeout*."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages(mailbox):
                if predicate(message):
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"No matching message in {mailbox}@{DOMAIN} within {timeout} s. "
                    f"Postfix log:\n{self.log()}"
                )
            time.sleep(0.05)

    def log(self):
        path = self.root / "maillog"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"

    def stop(self):
        """Stop the instance, wait (bounded) until its master exits, remove its files."""
        try:
            _postfix(self.config_dir, "stop")
            pid_file = self.root / "queue" / "pid" / "master.pid"
            deadline = time.monotonic() + 10
            while running(pid_file) and time.monotonic() < deadline:
                time.sleep(0.05)
            if running(pid_file):
                _postfix(self.config_dir, "abort")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start(port=None):
    """Configure and start a private Postfix on 127.0.0.1 (default: a free port); return it."""
    if _binary() is None:
        raise PostfixError("Postfix is not installed; `make test` installs it (TEST_APT).")
    if os.geteuid() != 0:
        raise PostfixError(
            "Starting a private Postfix needs root (CI and `make test` run as root); "
            "run the other tests with -m 'not postfix'."
        )
    postfix_user = pwd.getpwnam("postfix")
    # Short and world-traversable: Postfix daemons run as "postfix", and its sockets
    # live in the queue directory (a Unix socket path has at most 107 bytes).
    root = Path(tempfile.mkdtemp(prefix="symfonia-postfix-"))
    root.chmod(0o755)
    instance = Postfix(root, port or free_port())
    for name in ("etc", "queue", "data", f"mail/{DOMAIN}"):
        (root / name).mkdir(parents=True)
    os.chown(root / "data", postfix_user.pw_uid, postfix_user.pw_gid)
    for folder in (root / "mail", root / "mail" / DOMAIN):
        os.chown(folder, MAIL_UID, MAIL_UID)
    (root / "etc" / "main.cf").write_text(
        MAIN_CF.format(root=root, domain=DOMAIN, uid=MAIL_UID))
    (root / "etc" / "master.cf").write_text(MASTER_CF.format(port=instance.port))
    (root / "etc" / "vmailbox").write_text(
        "".join(f"{box}@{DOMAIN} {DOMAIN}/{box}/\n" for box in MAILBOXES))
    code, output = _postfix(instance.config_dir, "start")
    if code != 0 or not listening(instance.host, instance.port):
        log = instance.log()
        instance.stop()
        raise PostfixError(f"Postfix did not start (exit {code}):\n{output}\n{log}")
    return instance


def _binary():
    return shutil.which("postfix", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def _postfix(config_dir, command):
    """Run ``postfix -c config_dir command``; return (exit code, what it printed)."""
    # Postfix prints its errors only to a terminal (otherwise to syslog): give it one.
    reader, writer = pty.openpty()
    try:
        process = subprocess.run(
            [_binary(), "-c", str(config_dir), command], stdin=subprocess.DEVNULL,
            stdout=writer, stderr=writer, timeout=60, check=False,
        )
    finally:
        os.close(writer)
    chunks = []
    while True:
        try:
            chunk = os.read(reader, 4096)
        except OSError:  # EIO: the terminal's other end is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(reader)
    return process.returncode, b"".join(chunks).decode(errors="replace")


def listening(host, port, timeout=10):
    """Return True once *host*:*port* accepts connections (within *timeout* seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def running(pid_file):
    """Return True while the process named in *pid_file* is alive."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
