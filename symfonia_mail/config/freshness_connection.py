"""A database connection of each sending thread, for the freshness query alone (PostgreSQL).

The revision query (revision.py) need not hold up a send_mail: :func:`ask` sends
it as the call starts and returns what reads the answer later, when the
message's content is about to leave. Only this module uses these connections,
so a query left in flight never meets anyone else's; libpq's asynchronous calls
(``psycopg.pq``) send and read it. PostgreSQL through psycopg 3 only, and not
with Django's connection ``"pool"`` (a pool's connection is not ours to keep).

One connection per thread that sends, closed when its thread has ended and
another thread makes one; a forked child makes its own. Any failure drops the
connection: the caller then asks on Django's connection, and the next call
opens a new one here.
"""

import logging
import os
import select
import threading
import time

from django.db import connections

logger = logging.getLogger("symfonia_mail")

RECEIVE_SECONDS = 30  # a database that does not answer by then is asked the usual way


def ask(alias, build_sql):
    """Send the query ``build_sql(connection.ops)`` on this thread's connection to *alias*.

    Return a function that returns the first column of its one row as text ("" for
    no row), or None when the connection failed; None instead of that function
    when *alias* cannot be asked this way (then ask the usual way now).
    """
    reader = _readers.get(alias)
    if reader is None or not reader.send(build_sql):
        return None
    return reader.receive


class _Reader:
    """One thread's connection and the query it has in flight."""

    def __init__(self, wrapper):
        self.wrapper = wrapper  # a DatabaseWrapper of its own (connections.create_connection)
        self.pending = False  # a query sent whose answer was not read

    def send(self, build_sql):
        """Send the query; False when this connection cannot (it is dropped)."""
        try:
            if self.pending:  # its caller never needed the answer: read it away first
                self._answer()
            self.wrapper.ensure_connection()
            sql = build_sql(self.wrapper.ops).encode()
            self.wrapper.connection.pgconn.send_query(sql)
        except Exception:  # noqa: BLE001 - any failure: the caller asks the usual way
            logger.debug("Freshness connection unusable", exc_info=True)
            _readers.drop(self)
            return False
        self.pending = True
        return True

    def receive(self):
        """Return the answer; None when it cannot be had here (the caller asks again)."""
        if not self.pending:
            return None  # a send_mail nested in this one (a pre_send receiver's) read it
        try:
            return self._answer()
        except Exception:  # noqa: BLE001 - as in send()
            logger.debug("Freshness connection failed", exc_info=True)
            _readers.drop(self)
            return None

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


class _Readers:
    """This process's connections, one per thread and database alias."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_thread = {}  # (thread id, alias) -> _Reader, or None: not PostgreSQL

    def get(self, alias):
        key = (threading.get_ident(), alias)
        try:
            return self.by_thread[key]
        except KeyError:
            pass
        reader = _Reader(connections.create_connection(alias)) if _capable(alias) else None
        with self.lock:
            self.by_thread[key] = reader
            alive = {thread.ident for thread in threading.enumerate()}
            gone = [self.by_thread.pop(other) for other in list(self.by_thread)
                    if other[0] not in alive]
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


def _capable(alias):
    """Say whether *alias* is PostgreSQL through psycopg 3, without Django's pool."""
    connection = connections[alias]
    if connection.vendor != "postgresql" or connection.settings_dict["OPTIONS"].get("pool"):
        return False
    return getattr(type(connection).Database, "__name__", "") == "psycopg"  # not psycopg2
