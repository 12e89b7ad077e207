"""KEEP_ALIVE: send_mail reuses the process's SMTP connection, never sending a message twice.

Every server here is a real aiosmtpd on 127.0.0.1 that counts its sessions
(tests/smtpd.py SessionHandler); messages are counted by Message-ID.
"""

import os
import socket
import struct
import threading
import time

import pytest
from django.core.mail import EmailMessage, get_connection, send_mail

from symfonia_mail.exceptions import NotAnSMTPServer
from symfonia_mail.models import MailLog
from symfonia_mail.smtp import pool as smtp_pool
from symfonia_mail.tracking.maillog import LOST_AFTER_DATA

from .conftest import save_global
from .smtpd import CountingSMTP, SessionHandler
from .threads import in_threads

pytestmark = pytest.mark.django_db


def session_server(make_smtp_server, handler=None, **options):
    """Start a plain server that counts its sessions (not its own start-up check)."""
    server = make_smtp_server(tls=None, handler=handler or SessionHandler(),
                              smtp_class=CountingSMTP, **options)
    server.handler.forget_start_check()
    return server


@pytest.fixture
def server(make_smtp_server):
    return session_server(make_smtp_server)


@pytest.fixture
def configured(server):
    return save_global(server, security="none", username="", password="")


def send(n=1, subject="Faktura"):
    for i in range(n):
        assert send_mail(f"{subject} {i}", "Treść", None, ["klient@example.com"]) == 1


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def server_sessions(server):
    """Return the server's protocol objects that still have a connection."""
    return [s for s in server.controller.sessions
            if s.transport is not None and not s.transport.is_closing()]


def on_server(server, action):
    """Run *action* on the server's event loop thread and wait for it."""
    done = threading.Event()

    def run():
        try:
            action()
        finally:
            done.set()

    server.controller.loop.call_soon_threadsafe(run)
    assert done.wait(5)


def test_500_single_calls_open_one_session(server, configured):
    send(500)
    handler = server.handler
    assert handler.connections == 1
    assert len(handler.message_ids()) == 500
    assert MailLog.objects.filter(status="sent").count() == 500
    assert smtp_pool.idle_count() == 1


def test_keep_alive_0_closes_after_each_call(server, configured, settings):
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "KEEP_ALIVE": 0}
    send(3)
    assert server.handler.connections == 3
    assert smtp_pool.idle_count() == 0


def test_idle_connection_is_closed_after_keep_alive(server, configured, settings):
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "KEEP_ALIVE": 0.3}
    send()
    assert server.handler.open == 1
    wait_until(lambda: server.handler.open == 0)  # the timer said QUIT
    assert smtp_pool.idle_count() == 0
    send()
    assert server.handler.connections == 2


def close_idle_server_side(server):
    on_server(server, lambda: [s.transport.close() for s in server_sessions(server)])


def answer_421_then_close(server):
    def act():
        for session in server_sessions(server):
            session.transport.write(b"421 4.4.2 Idle timeout, closing connection\r\n")
            session.transport.close()
    on_server(server, act)


def reset_connection(server):
    def act():
        for session in server_sessions(server):
            sock = session.transport.get_extra_info("socket")
            # SO_LINGER 0: close() sends a TCP RST instead of a FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            session.transport.abort()
    on_server(server, act)


def refuse_next_mail_with_421(server):
    server.handler.mail_reply = "421 4.4.2 Idle too long, closing connection"


@pytest.mark.parametrize("fault", [close_idle_server_side, answer_421_then_close,
                                   reset_connection, refuse_next_mail_with_421])
def test_a_kept_connection_the_server_dropped_is_replaced_and_nothing_doubles(
        server, configured, fault):
    send()
    fault(server)
    time.sleep(0.05)  # the FIN / RST / 421 reaches our socket
    send(subject="Druga")
    send(subject="Trzecia")
    ids = server.handler.message_ids()
    assert len(ids) == 3 and set(ids.values()) == {1}, ids
    assert server.handler.connections == 2
    assert MailLog.objects.filter(status="sent").count() == 3


@pytest.mark.parametrize("_pipelining", [True, False], indirect=True,
                         ids=["pipelining", "no-pipelining"])
def test_a_connection_lost_after_the_final_dot_is_never_resent(server, configured, _pipelining):
    send()
    handler = server.handler
    handler.vanish_after_data = True
    before = handler.data_attempts
    with pytest.raises(Exception):  # noqa: B017 - any lost-connection error
        send(subject="Lost")
    assert handler.data_attempts == before + 1  # the message went out once, never again
    assert handler.connections == 1  # no second connection to try it on
    row = MailLog.objects.get(subject__startswith="Lost")
    # Sent whole, no reply: the server may have it. Unknown, as a worker says, not failed.
    assert row.status == "unknown"
    assert row.error.startswith("The connection was lost after the message was sent"), row.error
    assert row.problem["msgid"] == LOST_AFTER_DATA and row.problem["cause"]


def test_a_reply_after_the_final_dot_that_is_no_smtp_leaves_the_outcome_unknown(
        server, configured):
    send()
    server.handler.babble_after_data = True
    with pytest.raises(NotAnSMTPServer):
        send(subject="Bełkot")
    # The server kept it: logged unknown (never resent), as a lost connection there is.
    assert [m.message["Subject"] for m in server.messages][-1] == "Bełkot 0"
    row = MailLog.objects.get(subject__startswith="Bełkot")
    assert row.status == "unknown" and row.problem["msgid"] == LOST_AFTER_DATA


def test_a_forked_child_never_uses_the_parents_connection(server, configured):
    send()
    pid = os.fork()
    if pid == 0:  # the child: a connection of its own, and nothing said on the parent's
        code = 1
        try:
            code = 0 if smtp_pool.idle_count() == 0 else 2
            send(subject="Dziecko")
        finally:
            os._exit(code)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    send(subject="Rodzic")  # the parent's kept connection still works
    assert server.handler.connections == 2
    ids = server.handler.message_ids()
    assert len(ids) == 3 and set(ids.values()) == {1}


def test_a_changed_server_is_not_served_by_the_old_connection(
        server, configured, make_smtp_server):
    send()
    other = session_server(make_smtp_server)
    save_global(other, security="none", username="", password="")
    send(subject="Nowy")
    assert len(other.messages) == 1 and len(server.messages) == 1
    wait_until(lambda: server.handler.open == 0)  # the old one was closed, not kept


def test_a_new_revision_is_not_served_by_the_old_connection(server, configured):
    send()
    configured.save()  # same values, new revision: e.g. another process changed the password
    send()
    assert server.handler.connections == 2


def test_other_connection_arguments_get_their_own_connection(server, configured):
    send()
    message = EmailMessage("Z argumentami", "Treść", None, ["klient@example.com"])
    assert get_connection(timeout=7).send_messages([message]) == 1
    assert server.handler.connections == 2
    send()
    assert server.handler.connections == 2  # both kept: each serves its own key
    assert smtp_pool.idle_count() == 2


@pytest.mark.django_db(transaction=True)  # the threads' own database connections see it
def test_16_threads_share_kept_connections_one_user_at_a_time(server, configured):
    errors = in_threads(16, lambda number: send(10, subject=f"W{number}"))
    assert not errors, errors
    ids = server.handler.message_ids()
    assert len(ids) == 160 and set(ids.values()) == {1}
    assert server.handler.connections <= 16
    # The pool keeps at most MAX_CONNECTIONS (8); the others were closed.
    assert smtp_pool.idle_count() == min(server.handler.connections, 8)
    wait_until(lambda: server.handler.open == smtp_pool.idle_count())


def test_stopping_a_server_with_our_connection_open_does_not_hang(
        server, configured, make_smtp_server):
    send()
    assert smtp_pool.idle_count() == 1
    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    stopper.join(10)
    assert not stopper.is_alive(), "stop() hung on the kept connection"
    again = session_server(make_smtp_server, port=server.port)
    send(subject="Po restarcie")  # the dead kept connection is replaced
    assert len(again.messages) == 1
