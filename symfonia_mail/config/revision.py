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
from functools import lru_cache

from django.core.cache import InvalidCacheBackendError, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed
from django.db import connections, router, transaction
from django.dispatch import receiver

from .. import conf
from ..models import ConfigRevision
from . import freshness_connection

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
    thread kept for it alone (freshness_connection.py), and its answer is read
    when the function is called: the database answers while the caller builds
    and starts sending its message. Elsewhere (SQLite answers in the process; a
    shared revision cache) the function reads as read_token() does, and so it
    does whenever that connection fails.
    """
    if shared_cache() is not None or not conf.get("FRESHNESS_CONNECTION"):
        return read_token
    alias = router.db_for_read(ConfigRevision)
    receive = freshness_connection.ask(
        alias, lambda ops: _token_sql(ops.quote_name).replace("%s", "1"))
    if receive is None:
        return read_token

    def answer():
        token = receive()
        return read_token() if token is None else token

    return answer


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
