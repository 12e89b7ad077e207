"""Background sending: the outbox, the task, retries, the claim and stale rows.

Real SMTP servers on 127.0.0.1; Django's Tasks framework with its immediate
backend (no TASKS setting: runs at enqueue) or its dummy backend (stores tasks,
can defer them) so a test runs each task itself, as a worker would.
"""

import email
import time
from datetime import timedelta

import pytest
from django.core.mail import EmailMessage, send_mail
from django.db import transaction
from django.utils import timezone

from symfonia_mail.background import delivery, taskq
from symfonia_mail.models import GlobalMailConfig, MailLog, OutboxMessage

from .conftest import save_global

pytestmark = pytest.mark.django_db

# django.tasks (Django 6.0+) or the django_tasks backport (5.2).
TASKS_PACKAGE = taskq.task.__module__.rpartition(".")[0]
DUMMY = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}



@pytest.fixture
def background(settings):
    settings.SYMFONIA_MAIL = {"BACKGROUND": True, "INLINE_RETRY_DELAY": 0.05}
    return settings


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """send_mail, then run what waits for the commit (the test runs in a transaction)."""

    def send(*args):
        with django_capture_on_commit_callbacks(execute=True):
            return send_mail(*args)

    return send


@pytest.fixture
def dummy_tasks(background):
    background.TASKS = DUMMY
    backend = taskq.backend()
    backend.clear()
    yield backend
    backend.clear()


def run_ready_tasks(backend):
    """Run the stored tasks that are due, as a worker would; return their results."""
    done = []
    for result in list(backend.results):
        if result.task.run_after is None or result.task.run_after <= timezone.now():
            backend.results.remove(result)
            done.append(result.task.call(*result.args, **result.kwargs))
    return done


def test_send_mail_returns_at_once_and_sends_after_commit(
        background, smtp_server, django_capture_on_commit_callbacks):
    save_global(smtp_server, dsn_notify="OnFailure,Delay", cc="kopia@firma.example",
               bcc="archiwum@firma.example")
    with django_capture_on_commit_callbacks() as callbacks:
        sent = send_mail("Faktura FV/1/2026", "Treść", None, ["client@example.com"])
        assert sent == 1
        log = MailLog.objects.get()
        assert log.status == "queued" and log.attempts == 0
        stored = OutboxMessage.objects.get(pk=log.pk)
        assert stored.sender == "biuro@firma.example"
        assert stored.recipients == ["client@example.com", "kopia@firma.example",
                                     "archiwum@firma.example"]
        assert b"Bcc" not in bytes(stored.data)
        assert smtp_server.messages == []  # nothing before the transaction commits
    assert len(callbacks) == 1
    for callback in callbacks:  # the immediate backend runs the task at enqueue time
        callback()
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["client@example.com", "kopia@firma.example",
                                 "archiwum@firma.example"]
    assert received.param("NOTIFY", "client@example.com") == "FAILURE,DELAY"
    assert received.param("ENVID")
    log = MailLog.objects.get()  # the same row, updated
    assert log.status == "sent" and log.attempts == 1
    assert log.dsn_requested == "FAILURE,DELAY"
    assert log.message_id == received.message["Message-ID"]


def test_nothing_is_queued_or_sent_after_a_rollback(
        background, smtp_server, django_capture_on_commit_callbacks):
    save_global(smtp_server)
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            send_mail("s", "b", None, ["client@example.com"])
            raise ZeroDivisionError
    assert callbacks == []
    assert not MailLog.objects.exists() and not OutboxMessage.objects.exists()
    assert smtp_server.messages == []


def test_attachments_are_protected_before_they_are_stored(background, smtp_server):
    save_global(smtp_server, attachment_password="Tajne-Haslo-1")
    message = EmailMessage("Umowa", "W załączniku.", to=["client@example.com"])
    message.attach("umowa.txt", "POUFNA-TRESC-UMOWY " * 50, "text/plain")
    with transaction.atomic():  # keep the immediate backend from sending (no commit here)
        message.send()
        stored = email.message_from_bytes(bytes(OutboxMessage.objects.get().data))
        names = [part.get_filename() for part in stored.walk() if part.get_filename()]
        assert names == ["umowa.txt.zip"]
        payloads = b"".join(part.get_payload(decode=True) or b"" for part in stored.walk()
                            if not part.is_multipart())
        assert b"POUFNA-TRESC-UMOWY" not in payloads
        transaction.set_rollback(True)


def test_temporary_failures_are_retried_in_process_by_the_immediate_backend(
        background, make_smtp_server, send):
    server = make_smtp_server(data_replies=["451 4.3.0 Try again later"] * 2)
    save_global(server)
    assert send("s", "b", None, ["client@example.com"]) == 1
    assert len(server.messages) == 1 and server.handler.data_attempts == 3
    log = MailLog.objects.get()
    assert log.status == "sent" and log.attempts == 3


def test_bounded_in_process_retries_then_failed(background, make_smtp_server, settings, send):
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "INLINE_RETRIES": 1}
    server = make_smtp_server(data_replies=["451 4.3.0 Try again later"] * 5)
    save_global(server)
    send("s", "b", None, ["client@example.com"])
    log = MailLog.objects.get()
    assert server.messages == [] and server.handler.data_attempts == 2
    assert log.status == "failed" and log.attempts == 2
    assert "cannot run a retry later" in log.error and "451" in log.error


def test_a_permanent_refusal_fails_at_once(background, make_smtp_server, send):
    server = make_smtp_server(data_replies=["554 5.6.0 Message rejected"])
    save_global(server)
    send("s", "b", None, ["client@example.com"])
    log = MailLog.objects.get()
    assert log.status == "failed" and log.attempts == 1 and "554" in log.error


def test_retry_is_a_deferred_task_with_backoff(dummy_tasks, make_smtp_server, settings, send):
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "RETRY_BASE_DELAY": 0.2}
    server = make_smtp_server(data_replies=["451 4.3.0 Try again later"] * 2)
    save_global(server)
    send("s", "b", None, ["client@example.com"])
    [first] = dummy_tasks.results
    assert first.task.run_after is None
    assert run_ready_tasks(dummy_tasks) == ["retry"]
    log = MailLog.objects.get()
    assert log.status == "retry" and log.attempts == 1 and "451" in log.error
    [retry] = dummy_tasks.results
    assert retry.task.run_after == log.next_attempt_at > timezone.now()
    assert run_ready_tasks(dummy_tasks) == []  # not due yet
    for expected in ("retry", "sent"):
        time.sleep(max((dummy_tasks.results[0].task.run_after - timezone.now())
                       .total_seconds(), 0) + 0.01)
        assert run_ready_tasks(dummy_tasks) == [expected]
    log.refresh_from_db()
    assert log.status == "sent" and log.attempts == 3 and log.next_attempt_at is None
    assert len(server.messages) == 1


def test_gives_up_after_the_configured_attempts(dummy_tasks, make_smtp_server, settings, send):
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "RETRY_ATTEMPTS": 2,
                              "RETRY_BASE_DELAY": 0.01}
    server = make_smtp_server(data_replies=["421 4.7.0 Too many requests"] * 5)
    save_global(server)
    send("s", "b", None, ["client@example.com"])
    run_ready_tasks(dummy_tasks)
    time.sleep(0.05)
    assert run_ready_tasks(dummy_tasks) == ["failed"]
    log = MailLog.objects.get()
    assert log.attempts == 2 and log.error.startswith("Gave up after 2 attempt(s)")


def test_a_dead_server_is_a_temporary_failure(dummy_tasks, db, send):
    from .smtpd import dead_port

    config = GlobalMailConfig.get_solo()
    config.transport, config.host, config.port = "smtp", "127.0.0.1", dead_port()
    config.security, config.sender_email = "none", "biuro@firma.example"
    config.save()
    send("s", "b", None, ["client@example.com"])
    assert run_ready_tasks(dummy_tasks) == ["retry"]
    assert "ConnectionRefusedError" in MailLog.objects.get().error


def test_backoff_grows_exponentially_with_jitter(background):
    class Fixed:
        def __init__(self, value):
            self.value = value

        def uniform(self, low, high):
            return self.value

    assert delivery.backoff(1, Fixed(1.0)) == 60
    assert delivery.backoff(3, Fixed(1.0)) == 240
    assert delivery.backoff(3, Fixed(0.5)) == 120 and delivery.backoff(3, Fixed(1.5)) == 360
    assert delivery.backoff(20, Fixed(1.0)) == 3600  # capped


def test_a_message_is_claimed_once(dummy_tasks, smtp_server, send):
    save_global(smtp_server)
    send("s", "b", None, ["client@example.com"])
    log_id = MailLog.objects.get().pk
    assert delivery.send_queued(log_id) == "sent"
    assert delivery.send_queued(log_id) is None  # a second task for the same row
    assert len(smtp_server.messages) == 1


def test_stale_sending_becomes_unknown_and_is_never_resent(dummy_tasks, smtp_server, send):
    save_global(smtp_server)
    send("s", "b", None, ["client@example.com"])
    log_id = MailLog.objects.get().pk
    assert delivery.claim(log_id) is not None  # a worker claims it ... and dies
    assert delivery.sweep() == (0, 0)  # not stale yet
    assert delivery.sweep(timezone.now() + timedelta(minutes=11)) == (1, 0)
    log = MailLog.objects.get()
    assert log.status == "unknown" and "may or may not" in log.error
    dummy_tasks.clear()
    assert delivery.send_queued(log_id) is None
    assert smtp_server.messages == []


def test_a_lost_queued_task_is_enqueued_again(dummy_tasks, smtp_server, send):
    save_global(smtp_server)
    send("s", "b", None, ["client@example.com"])
    dummy_tasks.clear()  # the worker that held the task died
    assert delivery.sweep(timezone.now() + timedelta(minutes=11)) == (0, 1)
    assert run_ready_tasks(dummy_tasks) == ["sent"]
    assert len(smtp_server.messages) == 1


def test_refused_recipients_in_the_background(background, make_smtp_server, send):
    server = make_smtp_server(refuse_rcpt={"zly@example.com": "550 5.1.1 No such user"})
    save_global(server)
    send("s", "b", None, ["client@example.com", "zly@example.com"])
    log = MailLog.objects.get()
    assert log.status == "partial" and "zly@example.com (550" in log.refused_recipients
    assert [m.rcpt_tos for m in server.messages] == [["client@example.com"]]


def test_synchronous_sending_is_unchanged_without_the_setting(smtp_server):
    save_global(smtp_server)
    send_mail("s", "b", None, ["client@example.com"])
    assert MailLog.objects.get().status == "sent" and not OutboxMessage.objects.exists()



def test_a_worker_reuses_its_connection_for_the_next_message(dummy_tasks, make_smtp_server,
                                                             send):
    from .smtpd import RecordingHandler

    class CountingHandler(RecordingHandler):
        greetings = 0

        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            self.greetings += 1
            return await super().handle_EHLO(server, session, envelope, hostname, responses)

    server = make_smtp_server(tls=None, handler=CountingHandler(dsn=True))
    save_global(server, security="none", username="", password="")
    for number in range(3):
        send(f"s{number}", "b", None, ["client@example.com"])
    assert run_ready_tasks(dummy_tasks) == ["sent"] * 3
    assert len(server.messages) == 3 and server.handler.greetings == 1  # one connection


def test_a_reply_lost_after_the_message_was_written_is_unknown_not_resent(
        dummy_tasks, make_smtp_server, send):
    from .smtpd_faults import trickling_smtp_class

    # The server takes the message, then trickles its "250" past the deadline.
    server = make_smtp_server(tls=None, smtp_class=trickling_smtp_class("data"))
    save_global(server, security="none", username="", password="", timeout_ms=1000)
    send("s", "b", None, ["client@example.com"])
    assert run_ready_tasks(dummy_tasks) == ["unknown"]
    log = MailLog.objects.get()
    assert log.status == "unknown" and log.attempts == 1 and "may or may not" in log.error
    assert dummy_tasks.results == []  # no retry enqueued
    assert len(server.messages) == 1


def test_a_kept_connection_the_server_dropped_is_replaced_at_once(
        dummy_tasks, make_smtp_server, send):
    first = make_smtp_server(tls=None)
    save_global(first, security="none", username="", password="")
    send("s1", "b", None, ["client@example.com"])
    assert run_ready_tasks(dummy_tasks) == ["sent"]  # the worker keeps the connection
    first.stop()
    second = make_smtp_server(tls=None, port=first.port)  # same server, restarted
    first.stop = lambda: None  # already stopped (the fixture stops every server)
    send("s2", "b", None, ["client@example.com"])
    assert run_ready_tasks(dummy_tasks) == ["sent"]
    assert MailLog.objects.get(subject="s2").attempts == 1
    assert len(second.messages) == 1


def test_a_sweep_enqueues_a_bounded_number_of_rows_oldest_first(dummy_tasks, smtp_server, send,
                                                                 monkeypatch):
    save_global(smtp_server)
    for number in range(3):
        send(f"s{number}", "b", None, ["client@example.com"])
    dummy_tasks.clear()
    monkeypatch.setattr(delivery, "REQUEUE_BATCH", 2)
    later = timezone.now() + timedelta(minutes=11)
    assert delivery.sweep(later) == (0, 2)
    first_two = list(MailLog.objects.order_by("pk").values_list("pk", flat=True)[:2])
    assert [result.args[0] for result in dummy_tasks.results] == first_two
