"""Each configuration's limit of SMTP sessions open at once, for all processes together.

Exchange Online allows 3 concurrent SMTP AUTH connections per mailbox and
answers a 4th with ``4.3.2 STOREDRV.ClientSubmit; sender thread limit
exceeded``. A session takes one of the configuration's slots before it
connects: a ``SmtpConnectionLease`` row (config key, slot number), unique per
slot, so two processes never hold the same one. The holder renews its lease
while the session lives and deletes it when the session closes; a holder that
dies leaves a lease that expires after ``LEASE_SECONDS``.

The server may still say "too many connections" (another program uses the
mailbox): :func:`too_many` recognises the replies, which are temporary.
"""

import os
import socket
import threading
import time
import uuid
from datetime import timedelta

from django.db import Error as DatabaseError
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from ..models import SmtpConnectionLease

# Microsoft 365's SMTP AUTH submission hosts: 3 sessions per mailbox (FACTS.md).
MICROSOFT_HOSTS = frozenset({
    "smtp.office365.com", "smtp-legacy.office365.com", "outlook.office365.com",
})
MICROSOFT_LIMIT = 3
# A lease outlives its last renewal by this long: a dead holder's slot frees up then.
LEASE_SECONDS = 120
RENEW_AFTER = LEASE_SECONDS / 4  # seconds since the last renewal before the next one
RELEASE_ATTEMPTS = 5  # a busy database gets this many tries to free a slot


def limit_for(config):
    """Return the sessions *config* may have open at once, or None (no limit)."""
    if config.max_connections:
        return config.max_connections
    if config.host.lower().rstrip(".") in MICROSOFT_HOSTS:
        return MICROSOFT_LIMIT
    return None


def holder_name():
    """Return a new lease holder's name: host:pid:thread:nonce."""
    # The nonce tells two leases of one thread apart: a lease that expired while its
    # holder stalled, then taken over, is not freed by the stalled holder's release.
    nonce = uuid.uuid4().hex[:8]
    return f"{nonce}:{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:255]


class Lease:
    """One slot held by this process; renew it while the session lives, release at its end."""

    def __init__(self, config_key, slot, holder):
        self.config_key, self.slot, self.holder = config_key, slot, holder
        self.pid = os.getpid()
        self.renewed = time.monotonic()
        # The row is gone: the transaction that wrote it rolled back (send_mail inside
        # a transaction), or it expired and another holder took the slot.
        self.lost = False

    def __repr__(self):
        return f"<Lease {self.config_key} #{self.slot}>"

    def _rows(self):
        return SmtpConnectionLease.objects.filter(
            config_key=self.config_key, slot=self.slot, holder=self.holder)

    def renew_if_due(self):
        """Push the expiry on (one UPDATE at most every RENEW_AFTER seconds)."""
        if time.monotonic() - self.renewed < RENEW_AFTER:
            return
        expires = timezone.now() + timedelta(seconds=LEASE_SECONDS)
        updated = []
        if _quietly(lambda: updated.append(self._rows().update(expires_at=expires))):
            self.renewed = time.monotonic()  # else: again at the next message
            self.lost = not updated[0]

    def release(self):
        """Free the slot (never in a forked child: the lease is its parent's)."""
        if self.pid != os.getpid():
            return
        for _attempt in range(RELEASE_ATTEMPTS):
            if _quietly(lambda: self._rows().delete()):
                return
            time.sleep(0.05)
        # The database stayed unavailable (e.g. at exit): the lease expires by itself.


def _quietly(query):
    """Run *query* in a savepoint; return False if the database refused it (locked, gone)."""
    try:
        with transaction.atomic():
            query()
    except DatabaseError:
        return False
    return True


def try_acquire(config_key, limit):
    """Take a free slot of *config_key*; return a Lease, or None when all are held.

    None also when the database is busy (SQLite's table locked by another writer):
    the caller looks again a moment later, as for held slots.
    """
    now = timezone.now()
    held = {}
    if not _quietly(lambda: held.update(SmtpConnectionLease.objects.filter(
            config_key=config_key).values_list("slot", "expires_at"))):
        return None
    holder = holder_name()
    expires = now + timedelta(seconds=LEASE_SECONDS)
    for slot in range(limit):
        if slot in held and held[slot] > now:
            continue
        try:
            with transaction.atomic():
                if slot in held:
                    # An expired lease: its holder died. Whoever updates it first has it.
                    if not SmtpConnectionLease.objects.filter(
                            config_key=config_key, slot=slot, expires_at__lte=now,
                    ).update(holder=holder, expires_at=expires):
                        continue
                else:
                    SmtpConnectionLease.objects.create(
                        config_key=config_key, slot=slot, holder=holder, expires_at=expires)
        except IntegrityError:
            continue  # another process took this slot a moment ago
        except OperationalError:
            return None  # the database is busy: look again a moment later
        return Lease(config_key, slot, holder)
    return None


def too_many(error):
    """Say whether *error* is a server's "too many connections" (temporary) reply."""
    replies = getattr(error, "recipients", None)
    if isinstance(replies, dict) and replies:
        # Every recipient refused with it: the session was refused, not the addresses.
        return all(_too_many_reply(code, text) for code, text in replies.values())
    return _too_many_reply(getattr(error, "smtp_code", None), getattr(error, "smtp_error", ""))


def _too_many_reply(code, text):
    if not isinstance(code, int) or not 400 <= code < 500:
        return False
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text)
    # Exchange: "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded";
    # others: "421 4.7.0 Too many connections", "452 4.3.1 Insufficient system resources".
    return ("4.3.2" in text or (code == 421 and "4.7.0" in text)
            or (code == 452 and "4.3.1" in text))
