"""The freshness check runs while the server answers, and a save it finds is never missed.

A ``send_mail`` on a kept connection does not ask the database for the revision
before it speaks: it writes MAIL/RCPT/DATA first and asks while the server
answers (resolver.Session(deferred=True)). A save found then withdraws the message
before its content — nothing reaches the old server — and the message is built
and sent again under the new configuration.

"Another process" saves here by writing the database directly (a queryset
update of the configuration and a new revision token, no signal in this
process): exactly what this process sees of another's save. test_revision.py
proves the same with two real processes.
"""

import uuid

import pytest
from django.core import mail
from django.core.mail import get_connection, send_mail
from django.db import OperationalError, connection

from symfonia_mail.models import ConfigRevision, GlobalMailConfig, MailLog, OutboxMessage
from symfonia_mail.smtp import pool as smtp_pool

from .conftest import save_global
from .smtpd import SessionHandler
from .test_keepalive import session_server, wait_until
from .test_mailapi import graph_mirror, save_api  # noqa: F401 - a fixture and its helper

pytestmark = pytest.mark.django_db


class RecipientsSeen(SessionHandler):
    """Counts sessions and remembers every RCPT TO address, as it arrives."""

    def __init__(self):
        super().__init__()
        self.rcpts = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpts.append(address)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


@pytest.fixture
def server(make_smtp_server):
    return session_server(make_smtp_server, handler=RecipientsSeen())


@pytest.fixture
def other(make_smtp_server):
    return session_server(make_smtp_server, handler=RecipientsSeen())


@pytest.fixture
def configured(server):
    return save_global(server, security="none", username="", password="")


def send(to="klient@example.com", subject="Faktura"):
    return send_mail(subject, "Treść", None, [to])


def saved_elsewhere(**values):
    """Save GlobalMailConfig as another process would: this process's cache is not told."""
    GlobalMailConfig.objects.filter(pk=GlobalMailConfig.get_solo().pk).update(**values)
    ConfigRevision.objects.update_or_create(pk=1, defaults={"token": uuid.uuid4().hex})


def token_queries(check):
    """A database wrapper calling *check* at each revision query; collects what it returns."""
    results = []

    def wrapper(execute, sql, params, many, context):
        if ConfigRevision._meta.db_table in sql:
            results.append(check())
        return execute(sql, params, many, context)

    return wrapper, results


def test_the_freshness_query_runs_while_the_server_answers_the_commands(server, configured):
    send()  # the connection is kept and this process's configuration checked
    handler = server.handler

    def commands_arrived_content_not():
        # Bounded: without the deferral the query comes first and this times out.
        wait_until(lambda: "late@example.com" in handler.rcpts)
        return len(server.messages)

    wrapper, seen = token_queries(commands_arrived_content_not)
    with connection.execute_wrapper(wrapper):
        assert send(to="late@example.com") == 1
    assert seen == [1]  # one query: after the commands, before the content
    assert len(server.messages) == 2 and handler.connections == 1


def test_a_save_found_at_the_check_sends_nothing_to_the_old_server(server, other, configured):
    send()
    saved_elsewhere(host=other.host, port=other.port)
    assert send(subject="Po zmianie") == 1
    # The old server had the commands, never the content; the new one has the message once.
    assert len(server.messages) == 1 and "klient@example.com" in server.handler.rcpts[1:]
    assert [m.message["Subject"] for m in other.messages] == ["Po zmianie"]
    wait_until(lambda: server.handler.open == 0)  # the old connection closed, not kept
    row = MailLog.objects.latest("pk")
    assert (row.status, row.server) == ("sent", f"{other.host}:{other.port}")
    assert MailLog.objects.count() == 2
    assert smtp_pool.idle_count() == 1  # the new server's connection, kept


def test_a_moved_message_is_built_again_under_the_new_configuration(server, configured):
    send()
    saved_elsewhere(sender_email="nowy@firma.example", cc="kopia@firma.example")
    assert send(subject="Nadawca") == 1
    last = server.messages[-1]
    assert last.message["From"].endswith("<nowy@firma.example>")
    assert last.message["Cc"] == "kopia@firma.example"
    assert set(last.rcpt_tos) == {"klient@example.com", "kopia@firma.example"}
    assert len(server.messages) == 2  # the withdrawn attempt left nothing


def test_no_connection_is_opened_with_a_configuration_saved_over(server, other, configured):
    send()
    smtp_pool.close_all()  # nothing kept: this call must open a connection
    wait_until(lambda: server.handler.open == 0)
    saved_elsewhere(host=other.host, port=other.port)
    assert send() == 1
    assert server.handler.connections == 1  # only the first call's: checked before opening
    assert len(other.messages) == 1


def test_the_system_route_is_checked_before_the_hand_over(server, configured, settings):
    settings.SYMFONIA_MAIL = {"SYSTEM_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    save_global(server, transport="system", security="none", username="", password="")
    send()
    assert len(mail.outbox) == 1
    saved_elsewhere(transport="smtp")
    assert send(subject="Już przez SMTP") == 1
    assert len(mail.outbox) == 1
    assert [m.message["Subject"] for m in server.messages] == ["Już przez SMTP"]


def test_a_mailbox_api_is_checked_before_its_request(server, configured,
                                                    graph_mirror, token_endpoint):  # noqa: F811
    save_api(token_endpoint, "microsoft_graph")
    send()
    assert len(graph_mirror.delivered) == 1
    saved_elsewhere(transport="smtp", host=server.host, port=server.port, security="none",
                    auth_method="password", username="", password="")
    assert send(subject="Już nie przez Graph") == 1
    assert len(graph_mirror.delivered) == 1
    assert [m.message["Subject"] for m in server.messages] == ["Już nie przez Graph"]


def test_the_outbox_is_checked_before_a_message_is_queued(server, configured, settings,
                                                          django_capture_on_commit_callbacks):
    send()
    settings.SYMFONIA_MAIL = {"BACKGROUND": True}
    saved_elsewhere(sender_email="kolejka@firma.example")
    with django_capture_on_commit_callbacks(execute=False):
        assert send(subject="W kolejce") == 1
    queued = OutboxMessage.objects.get()
    assert queued.sender == "kolejka@firma.example"
    assert b"kolejka@firma.example" in bytes(queued.data)


def test_a_database_failing_at_the_check_withdraws_the_message(server, configured):
    send()

    def fail():
        raise OperationalError("server closed the connection unexpectedly")

    wrapper, _seen = token_queries(fail)
    with connection.execute_wrapper(wrapper), pytest.raises(OperationalError):
        send(subject="Bez bazy")
    assert len(server.messages) == 1  # no content left: the session closed before it
    row = MailLog.objects.latest("pk")
    assert row.status == "failed" and "server closed the connection" in row.error
    wait_until(lambda: server.handler.open == 0)
    assert send(subject="Znowu") == 1  # a new session, and the message goes
    assert [m.message["Subject"] for m in server.messages][-1] == "Znowu"
    assert server.handler.connections == 2


def test_an_opened_connection_is_checked_at_once(server, other, configured):
    # open() (and so ``with get_connection()``) does not defer: what is built with its
    # session outside the backend (build_templated(connection=...)) is current.
    send()
    saved_elsewhere(host=other.host, port=other.port)
    with get_connection() as opened:
        assert opened.session.config_for(None).port == other.port
    assert server.handler.connections == 1
