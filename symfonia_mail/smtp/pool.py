"""SMTP connections kept open between calls in one process (``SYMFONIA_MAIL["KEEP_ALIVE"]``).

A ``send_mail`` pays the whole SMTP opening — connect, greeting, EHLO,
STARTTLS, EHLO, AUTH — for one message. Instead, the backend checks its
connection in here when it closes, and the next call checks it out again if it
has the same pool key: configuration key, revision token, resolved
configuration (server, security, login, connection arguments applied), a
digest of the credentials and the client certificate. A changed configuration
never gets an old connection; its old ones are closed.

- One user at a time: a connection is either checked out (owned by one
  backend) or idle here.
- Idle connections older than ``KEEP_ALIVE`` seconds are closed at the next
  checkout and by a timer; a configuration with a connection limit keeps them
  at most ``LIMITED_KEEP_ALIVE`` seconds (an idle session holds a slot others
  may wait for).
- Fork-safe: a child drops its parent's connections without a word on them.
- Closed with QUIT when the interpreter exits.

The connection found dead when reused is replaced by SmtpConnection.deliver.
"""

import atexit
import hashlib
import os
import smtplib
import threading
import time

from django.db import connections

from .. import conf
from ..exceptions import DeliveryError
from ..secret import reveal
from . import limits as smtp_limits
from .connection import BUSY_PAUSE, BUSY_PAUSE_MAX, OPEN_REPLIES, SmtpConnection

__all__ = ["ConnectionsBusy", "checkin", "checkout", "close_all", "idle_count"]

# Seconds an idle session of a limited configuration stays (Postfix's connection
# cache keeps 2 s, smtp_connection_cache_time_limit): it holds a slot.
LIMITED_KEEP_ALIVE = 2.0
WAIT_PAUSE, WAIT_PAUSE_MAX = 0.02, 0.25  # seconds between looks for a free slot


class ConnectionsBusy(DeliveryError, smtplib.SMTPConnectError):
    """Every connection slot of the configuration stayed taken until the deadline.

    A 4xx (temporary) error: a background worker retries the message later.
    """

    def __init__(self, label, limit, waited):
        super().__init__(421, (
            f"All {limit} SMTP connections allowed for {label} stayed in use for "
            f"{waited:.0f} s. The message was not sent; try again, or raise "
            "\"connections at once\" if the server allows more."))

    def __str__(self):
        return self.smtp_error


def pool_key(config, token, client_certificate):
    """Return what a kept connection must match to serve *config* again."""
    # A digest, never the secret: keys show up in debuggers and tracebacks.
    secrets = hashlib.sha256("\0".join((
        reveal(config.password), config.oauth_client_secret,
        config.oauth_refresh_token)).encode()).hexdigest()
    return (config.key, token, config, secrets, client_certificate)


class Pool:
    """The idle SMTP connections of this process, by pool key."""

    def __init__(self):
        self.lock = threading.Lock()
        self.idle = {}  # pool key -> [SmtpConnection], most recently checked in last
        self.pid = os.getpid()
        self.timer = None

    def forget_after_fork(self):
        """In a forked child: drop the parent's connections without QUIT, and the lock."""
        self.lock = threading.Lock()
        idle, self.idle = self.idle, {}
        self.pid, self.timer = os.getpid(), None
        for stack in idle.values():
            for smtp in stack:
                _drop_silently(smtp)

    def take_idle(self, key):
        """Return a live idle connection for *key*, closing the stale ones met on the way."""
        stale, found = [], None
        now = time.monotonic()
        with self.lock:
            if self.pid != os.getpid():  # a fork without os.register_at_fork (never expected)
                self.forget_after_fork()
            for other in list(self.idle):
                if other != key and ((other[0] == key[0] and other[1] != key[1])
                                     or _expired(self.idle[other], now)):
                    stale += self.idle.pop(other)  # a changed configuration, or too old
            stack = self.idle.get(key, [])
            while stack and found is None:
                smtp = stack.pop()
                if smtp.pool_expires > now:
                    found = smtp
                else:
                    stale.append(smtp)
            if not stack:
                self.idle.pop(key, None)
        _close_all(stale)
        return found

    def put(self, smtp, keep):
        """Keep *smtp* idle for *keep* seconds (the oldest go beyond MAX_CONNECTIONS)."""
        smtp.pool_expires = time.monotonic() + keep
        with self.lock:
            self.idle.setdefault(smtp.pool_key, []).append(smtp)
            surplus = _oldest(self.idle, sum(map(len, self.idle.values()))
                              - max(conf.get("MAX_CONNECTIONS"), 1))
            self._schedule(keep)
        _close_all(surplus)

    def _schedule(self, delay):
        if self.timer is None:
            self.timer = threading.Timer(delay + 0.05, self.reap)
            self.timer.daemon = True
            self.timer.start()

    def reap(self):
        """Close the idle connections past their time (the timer's job)."""
        now = time.monotonic()
        with self.lock:
            self.timer = None
            if self.pid != os.getpid():
                return
            expired = [key for key, stack in self.idle.items() if _expired(stack, now)]
            stale = [smtp for key in expired for smtp in self.idle.pop(key)]
            left = [smtp.pool_expires for stack in self.idle.values() for smtp in stack]
            if left:
                self._schedule(max(min(left) - now, 0))
        _close_all(stale)
        if any(smtp.lease is not None for smtp in stale):
            connections.close_all()  # this timer thread's own database connection

    def close_all(self):
        """Close every idle connection with QUIT."""
        with self.lock:
            idle, self.idle = self.idle, {}
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
        if self.pid == os.getpid():
            _close_all([smtp for stack in idle.values() for smtp in stack])


_pool = Pool()


def checkout(config, *, token, client_certificate=None, wait_when_busy=True,
             before_opening=None):
    """Return an open SmtpConnection for *config*: a kept one, or a new one.

    *before_opening*: called when no kept connection serves *config*, before a
    new one is opened (the caller's last chance to check *config* is current).

    A configuration with a connection limit (smtp_limits) waits for a free slot
    within the opening deadline (``OPEN_REPLIES`` × its timeout), taking a
    connection another thread of this process checks in meanwhile.
    *wait_when_busy*: a server's "too many connections" is waited out within
    the same deadline (False: raised at once, for a worker that retries later).
    """
    key = pool_key(config, token, client_certificate)
    found = _pool.take_idle(key)
    if found is not None:
        found.reused = True
        return found
    if before_opening is not None:
        before_opening()
    limit = smtp_limits.limit_for(config)
    lease = None
    deadline = time.monotonic() + OPEN_REPLIES * config.timeout
    pause = WAIT_PAUSE
    while limit is not None:
        lease = smtp_limits.try_acquire(config.key, limit)
        if lease is not None:
            break
        if time.monotonic() + pause > deadline:
            raise ConnectionsBusy(config.label, limit, OPEN_REPLIES * config.timeout)
        time.sleep(pause)
        pause = min(pause * 1.5, WAIT_PAUSE_MAX)
        found = _pool.take_idle(key)
        if found is not None:
            found.reused = True
            return found
    smtp = SmtpConnection(config, client_certificate=client_certificate)
    smtp.pool_key, smtp.pool_pid, smtp.lease = key, os.getpid(), lease
    smtp.busy_wait = OPEN_REPLIES * config.timeout if wait_when_busy else 0.0
    _open(smtp, deadline if wait_when_busy else 0.0)
    return smtp


def _open(smtp, deadline):
    """Open *smtp*, waiting out "too many connections" until *deadline* (monotonic)."""
    pause = BUSY_PAUSE
    while True:
        try:
            smtp.open()  # on an error it has closed the session, not freed the slot
            return
        except Exception as error:
            if not smtp_limits.too_many(error) or time.monotonic() + pause > deadline:
                smtp.discard()
                raise
        time.sleep(pause)
        pause = min(pause * 2, BUSY_PAUSE_MAX)


def checkin(smtp):
    """Give back a connection from :func:`checkout`: kept for the next call, or closed."""
    pid = getattr(smtp, "pool_pid", None)
    if pid != os.getpid():
        if pid is not None:  # opened before a fork: never speak on the parent's socket
            _drop_silently(smtp)
        else:  # not the pool's
            smtp.discard()
        return
    keep = conf.get("KEEP_ALIVE")
    if smtp.lease is not None:
        keep = min(keep, LIMITED_KEEP_ALIVE)
    dialogue = smtp.dialogue
    lost = smtp.lease is not None and smtp.lease.lost  # its slot is no longer ours
    if keep <= 0 or lost or dialogue is None or dialogue.sock is None:
        smtp.discard()
        return
    smtp.reused = False
    _pool.put(smtp, keep)


def close_all():
    """Close every kept connection of this process (QUIT); tests and exit call it."""
    _pool.close_all()


def idle_count():
    """Return how many connections are kept idle now."""
    with _pool.lock:
        return sum(map(len, _pool.idle.values()))


def _expired(stack, now):
    return all(smtp.pool_expires <= now for smtp in stack)


def _oldest(idle, count):
    """Remove and return the *count* least recently checked-in connections of *idle*."""
    if count <= 0:
        return []
    everything = sorted((smtp for stack in idle.values() for smtp in stack),
                        key=lambda smtp: smtp.pool_expires)[:count]
    for smtp in everything:
        stack = idle[smtp.pool_key]
        stack.remove(smtp)
        if not stack:
            del idle[smtp.pool_key]
    return everything


def _close_all(stale):
    for smtp in stale:
        smtp.discard()


def _drop_silently(smtp):
    """Close our file descriptor of a parent's socket: no QUIT, no TLS close_notify."""
    dialogue, smtp.dialogue, smtp.lease = smtp.dialogue, None, None
    sock = getattr(dialogue, "sock", None)
    if sock is not None:
        dialogue.sock = None
        # The parent still holds the socket: closing our descriptor sends nothing.
        sock.close()


os.register_at_fork(after_in_child=lambda: _pool.forget_after_fork())
atexit.register(close_all)
