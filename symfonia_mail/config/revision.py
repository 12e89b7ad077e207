"""The configuration revision token: read once per connection, as cheaply as possible.

Every save or delete of a configuration or template writes a new random token
(:class:`~symfonia_mail.models.ConfigRevision`). Each connection reads it once
to know whether its process's cached configurations are still current, so a
save is seen by the next connection in every process, with no grace period.

Reading costs one primary-key query, written as plain SQL: the ORM's
query building cost ~15x the query itself on SQLite (bench/bench_single.py).
When ``SYMFONIA_MAIL["REVISION_CACHE"]`` names a cache shared by all
processes (Redis, Memcached, files, database; not the per-process local
memory cache), the token is read from it and the database is not asked at
all; a new token is written there once its transaction commits.

A sending connection need not wait for the answer before it starts
(resolver.Session(deferred=True)): :func:`start_reading` sends the query and
returns what reads its answer. On PostgreSQL it goes on a connection of the
thread kept for it alone (``FRESHNESS_CONNECTION``), so the database answers
while the message is built and its commands are on their way.
"""

import logging
import os
import select
import threading
import time
from functools import lru_cache

from django.core.cache import InvalidCacheBackendError, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed
from django.db import connections, router, transaction
from django.dispatch import receiver

from .. import conf
from ..models import ConfigRevision

logger = logging.getLogger("symfonia_mail")

CACHE_KEY = "symfonia_mail:config_revision"
# Caches that are not shared between processes cannot tell one process of another's save.
_PER_PROCESS = (LocMemCache, DummyCache)


def read_token():
    """Return the current token: from the shared cache when it holds one, else one query."""
    cache = shared_cache()
    if cache is not None:
        try:
            token = cache.get(CACHE_KEY)
        except Exception:  # noqa: BLE001 - a cache outage must not stop mail: ask the database
            logger.warning("Revision cache unreachable; reading the database", exc_info=True)
            return _query_token()
        if token is not None:
            return token
    token = _query_token()
    if cache is not None and token:
        # add(), not set(): a token saved meanwhile by another process must win.
        _safely(cache.add, CACHE_KEY, token, None)
    return token


def start_reading():
    """Begin reading the token; return a function that returns it.

    On PostgreSQL (psycopg 3) the query leaves now, on a connection of this
    thread kept for it alone (``SYMFONIA_MAIL["FRESHNESS_CONNECTION"]``), and its
    answer is read when the function is called: the database answers while the
    caller builds and starts sending its message. Elsewhere (SQLite answers in
    the process; a shared revision cache) the function reads as read_token() does.
    Any error of that connection falls back to read_token() on Django's own.
    """
    if shared_cache() is not None or not conf.get("FRESHNESS_CONNECTION"):
        return read_token
    reader = _readers.get(router.db_for_read(ConfigRevision))
    if reader is None or not reader.send():
        return read_token
    return reader.receive


def write_token(token):
    """Store *token* as the new revision (in the database now, in the cache on commit)."""
    cache = shared_cache()
    if cache is not None:
        # Readers between now and the commit then ask the database (and get the old token).
        _safely(cache.delete, CACHE_KEY)
    if not ConfigRevision.objects.filter(pk=1).update(token=token):
        ConfigRevision.objects.update_or_create(pk=1, defaults={"token": token})
    if cache is not None:
        # Only a committed token may reach other processes: a rolled-back save never does.
        transaction.on_commit(lambda: _safely(cache.set, CACHE_KEY, token, None),
                              using=router.db_for_write(ConfigRevision))


def shared_cache():
    """Return the cache that holds the revision for every process, or None."""
    alias = _shared_alias(conf.get("REVISION_CACHE"))
    return caches[alias] if alias else None


@lru_cache(maxsize=8)
def _shared_alias(alias):
    """Return *alias* when it names a cache shared by processes, else None (cached)."""
    if not alias:
        return None
    try:
        cache = caches[alias]
    except InvalidCacheBackendError:
        return None
    return None if isinstance(cache, _PER_PROCESS) else alias


@receiver(setting_changed)
def _settings_changed(*, setting, **kwargs):
    if setting in ("CACHES", "SYMFONIA_MAIL"):
        _shared_alias.cache_clear()


@lru_cache(maxsize=8)
def _token_sql(vendor_quote):
    return "SELECT {} FROM {} WHERE {} = %s".format(  # noqa: S608 - names from the model
        vendor_quote("token"), vendor_quote(ConfigRevision._meta.db_table), vendor_quote("id"),
    )


def _query_token():
    connection = connections[router.db_for_read(ConfigRevision)]
    with connection.cursor() as cursor:
        cursor.execute(_token_sql(connection.ops.quote_name), [1])
        row = cursor.fetchone()
    return row[0] if row else ""


def _safely(operation, *args):
    try:
        operation(*args)
    except Exception:  # noqa: BLE001 - the database stays the truth; readers fall back to it
        logger.warning("Revision cache not updated (%s)", operation.__name__, exc_info=True)


# Reading the token early: PostgreSQL only.

RECEIVE_SECONDS = 30  # a database that does not answer by then is asked again the usual way


class _EarlyReader:
    """A connection that asks one thread's freshness query ahead of its answer being needed.

    Only this object uses its connection, so a query left in flight never meets
    anyone else's; libpq's asynchronous calls (psycopg.pq) send it and read it.
    """

    def __init__(self, wrapper):
        self.wrapper = wrapper  # a DatabaseWrapper of its own (connections.create_connection)
        self.pending = False  # a query sent whose answer was not read

    def send(self):
        """Send the query; False when this connection cannot (the caller asks later)."""
        try:
            if self.pending:  # its caller never needed the answer: read it away first
                self._answer()
            self.wrapper.ensure_connection()
            self.wrapper.connection.pgconn.send_query(self._sql())
        except Exception:  # noqa: BLE001 - any failure: Django's own connection is asked
            logger.debug("Freshness connection unusable; asking on Django's", exc_info=True)
            _readers.drop(self)
            return False
        self.pending = True
        return True

    def receive(self):
        """Return the token the query read (asking Django's connection if this one failed)."""
        if not self.pending:
            # A send_mail nested in this one (a pre_send receiver's) read its answer away.
            return read_token()
        try:
            return self._answer()
        except Exception:  # noqa: BLE001 - as in send()
            logger.debug("Freshness connection failed; asking on Django's", exc_info=True)
            _readers.drop(self)
            return read_token()

    def _answer(self):
        self.pending = False
        pgconn = self.wrapper.connection.pgconn
        deadline = time.monotonic() + RECEIVE_SECONDS
        pgconn.consume_input()
        while pgconn.is_busy():
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([pgconn.socket], [], [], left)[0]:
                raise TimeoutError("The database did not answer the freshness query.")
            pgconn.consume_input()
        results = []
        while (result := pgconn.get_result()) is not None:
            results.append(result)
        [result] = results
        if result.error_message:
            raise RuntimeError(result.error_message.decode(errors="replace"))
        return result.get_value(0, 0).decode() if result.ntuples else ""

    def _sql(self):
        connection = self.wrapper
        return _token_sql(connection.ops.quote_name).replace("%s", "1").encode()


class _Readers:
    """This process's early readers, one per thread and database alias."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_thread = {}  # (thread id, alias) -> _EarlyReader, or None: not PostgreSQL

    def get(self, alias):
        key = (threading.get_ident(), alias)
        try:
            return self.by_thread[key]
        except KeyError:
            pass
        reader = _EarlyReader(connections.create_connection(alias)) if _async_capable(
            alias) else None
        with self.lock:
            self.by_thread[key] = reader
            alive = {thread.ident for thread in threading.enumerate()}
            gone = [self.by_thread.pop(key) for key in list(self.by_thread)
                    if key[0] not in alive]
        for old in gone:  # threads that ended: their connections are closed, not kept
            if old is not None and old.wrapper.connection is not None:
                _quietly(old.wrapper.connection.close)
        return reader

    def drop(self, reader):
        with self.lock:
            for key, held in list(self.by_thread.items()):
                if held is reader:
                    del self.by_thread[key]
        _quietly(reader.wrapper.close)

    def forget_after_fork(self):
        """In a forked child: never use the parent's connections (their sockets are shared).

        Forgetting them is enough: psycopg does not end a connection's session when it
        is collected in a process other than the one that opened it.
        """
        self.lock = threading.Lock()
        self.by_thread = {}


_readers = _Readers()
os.register_at_fork(after_in_child=_readers.forget_after_fork)


def _quietly(close):
    try:
        close()
    except Exception:  # noqa: BLE001 - a broken connection may refuse even to close
        logger.debug("Closing a freshness connection failed", exc_info=True)


def _async_capable(alias):
    """Say whether *alias* is PostgreSQL through psycopg 3, without a pool of Django's."""
    connection = connections[alias]
    if connection.vendor != "postgresql" or connection.settings_dict["OPTIONS"].get("pool"):
        return False  # a pool's connection is not ours to keep
    return getattr(type(connection).Database, "__name__", "") == "psycopg"  # not psycopg2
