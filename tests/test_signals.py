"""Extension points: pre_send / post_send and message.symfonia_status.

Every test sends through the real backend to an aiosmtpd server on 127.0.0.1
(tests/smtpd.py), as an integrator's code would.
"""

import contextlib

import pytest
from django.core.mail import EmailMessage, get_connection

from symfonia_mail import signals
from symfonia_mail.exceptions import RecipientsRefused, SendCancelled
from symfonia_mail.models import GlobalMailConfig, MailLog

# Fixtures of the background tests (pytest finds them by name in this module).
from .conftest import save_global
from .smtpd import free_port
from .test_background import background, dummy_tasks, run_ready_tasks  # noqa: F401
from .test_protection import CSV, PASSWORD, assert_zip_protected
from .test_protection_e2e import received_attachments

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def receiver(signal, function):
    """Connect *function* to *signal* for the block (weak=False: it may be a lambda)."""
    signal.connect(function, weak=False)
    try:
        yield
    finally:
        signal.disconnect(function)


@pytest.fixture
def post_sends():
    """Record every post_send as (message, status)."""
    calls = []

    def record(sender, message, status, **kwargs):
        calls.append((message, status))

    with receiver(signals.post_send, record):
        yield calls


def test_pre_send_adds_a_header_on_a_copy(global_config, smtp_server):
    def add_header(sender, message, user, config, **kwargs):
        message.extra_headers["X-Tenant"] = f"acme via {config.scope}"

    message = EmailMessage("Faktura", "Treść", to=["client@example.com"])
    with receiver(signals.pre_send, add_header):
        assert message.send() == 1

    [received] = smtp_server.messages
    assert received.message["X-Tenant"] == "acme via global"
    assert message.extra_headers == {}  # the caller's message is not changed


def test_pre_send_runs_before_macros_and_protection(global_config, smtp_server, tmp_path):
    config = GlobalMailConfig.get_solo()
    config.attachment_password = PASSWORD
    config.save()

    def attach_report(sender, message, **kwargs):
        message.attach("należności.csv", CSV, "text/csv")
        message.body += "\nFirma: {firma}"

    message = EmailMessage("Zestawienie", "W załączeniu.", to=["client@example.com"])
    with receiver(signals.pre_send, attach_report):
        assert message.send() == 1

    [received] = smtp_server.messages
    [attachment] = received_attachments(received)
    assert_zip_protected(tmp_path, attachment, member="należności.csv", data=CSV)
    assert "Firma: Firma Testowa sp. z o.o." in received.message.get_body().get_content()
    assert message.attachments == []


@pytest.mark.parametrize("fail_silently", [False, True])
def test_pre_send_cancels_a_message(global_config, smtp_server, post_sends, fail_silently):
    def cancel_for_blocked(sender, message, **kwargs):
        if "blocked@example.com" in message.to:
            raise SendCancelled("The contractor is blocked in the ERP.")

    blocked = EmailMessage("Faktura 1", "…", to=["blocked@example.com"])
    allowed = EmailMessage("Faktura 2", "…", to=["client@example.com"])
    connection = get_connection(fail_silently=fail_silently)
    with receiver(signals.pre_send, cancel_for_blocked):
        assert connection.send_messages([blocked, allowed]) == 1  # not raised, not counted

    assert [r.rcpt_tos for r in smtp_server.messages] == [["client@example.com"]]
    log = MailLog.objects.get(subject="Faktura 1")
    assert log.status == MailLog.Status.CANCELLED
    assert "blocked in the ERP" in log.error
    assert blocked.symfonia_status.status == "cancelled"
    assert blocked.symfonia_status.maillog_id == log.pk
    assert allowed.symfonia_status.status == "sent"
    assert [(m, s.status) for m, s in post_sends] == [(blocked, "cancelled"), (allowed, "sent")]


def test_status_of_a_sent_message(global_config, smtp_server, post_sends):
    global_config.dsn_notify = "OnFailure"
    global_config.save()
    message = EmailMessage("Faktura", "…", to=["client@example.com"])
    assert message.send() == 1

    status = message.symfonia_status
    [received] = smtp_server.messages
    log = MailLog.objects.get()
    assert status.status == "sent" and status.delivered
    assert status.message_id == received.message["Message-ID"] == log.message_id
    assert status.envelope_id == log.envelope_id != ""
    assert received.param("ENVID").lower() == status.envelope_id.lower()  # aiosmtpd upper-cases
    assert status.refused == {}
    assert status.maillog_id == log.pk
    # post_send came after the row was written: the receiver saw the id too.
    [(sent_message, sent_status)] = post_sends
    assert sent_message is message and sent_status is status


def test_status_names_refused_recipients_silent_or_not(make_smtp_server, global_config,
                                                      post_sends):
    server = make_smtp_server(tls="starttls", users={"mailer": "s3cret-Pa55"}, dsn=True,
                              refuse_rcpt={"gone@example.com": "550 5.1.1 No such user"})
    config = GlobalMailConfig.get_solo()
    config.port = server.port
    config.save()
    loud = EmailMessage("A", "…", to=["client@example.com", "gone@example.com"])
    quiet = EmailMessage("B", "…", to=["client@example.com", "gone@example.com"])

    with pytest.raises(RecipientsRefused):
        loud.send()
    assert quiet.send(fail_silently=True) == 1

    for message in (loud, quiet):
        status = message.symfonia_status
        assert status.status == "partial"
        assert status.refused == {"gone@example.com": (550, "5.1.1 No such user")}
        assert status.maillog_id == MailLog.objects.get(subject=message.subject).pk
    # Exactly one post_send per message, whether the backend was silent or not.
    assert [m for m, _s in post_sends] == [loud, quiet]


def test_post_send_for_failed_and_not_attempted_messages(global_config, smtp_server,
                                                         post_sends):
    global_config.port = free_port()  # nothing listens there: connecting fails
    global_config.save()
    first = EmailMessage("A", "…", to=["client@example.com"])
    second = EmailMessage("B", "…", to=["client@example.com"])
    with pytest.raises(OSError):
        get_connection().send_messages([first, second])

    assert [(m, s.status) for m, s in post_sends] == [(first, "failed"), (second, "failed")]
    assert "Not attempted" in second.symfonia_status.error
    assert {m.symfonia_status.maillog_id for m in (first, second)} == set(
        MailLog.objects.values_list("pk", flat=True))


def test_background_send_reports_in_the_worker(dummy_tasks, smtp_server, post_sends,  # noqa: F811
                                               django_capture_on_commit_callbacks):
    save_global(smtp_server)
    message = EmailMessage("Faktura", "…", to=["client@example.com"])
    with django_capture_on_commit_callbacks(execute=True):  # the task is enqueued on commit
        assert message.send() == 1
    log = MailLog.objects.get()
    assert message.symfonia_status.status == "queued"
    assert message.symfonia_status.maillog_id == log.pk
    assert post_sends == []  # not final yet

    run_ready_tasks(dummy_tasks)

    [(sent_message, status)] = post_sends
    [received] = smtp_server.messages
    assert sent_message is None  # the worker has the stored bytes, not the caller's object
    assert status.status == "sent" and status.maillog_id == log.pk
    assert status.message_id == received.message["Message-ID"]
    assert status.envelope_id == log.envelope_id
