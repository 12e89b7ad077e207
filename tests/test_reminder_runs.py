"""Payment reminder runs as tasks: chunks, progress, once per contractor per day."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from sales.models import Contractor
from sales.reminders import SOURCE

from symfonia_mail.background import taskq
from symfonia_mail.models import MailLog, ReminderRun
from symfonia_mail.reminders import runs as reminder_runs

from .conftest import config_values
from .test_background import DUMMY, run_ready_tasks
from .test_reminders_sales import TODAY, invoice, ledger  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def dummy_tasks(settings):
    settings.TASKS = DUMMY
    settings.SYMFONIA_MAIL = {"BACKGROUND": True, "REMINDER_CHUNK": 2}
    backend = taskq.backend()
    backend.clear()
    yield backend
    backend.clear()


@pytest.fixture
def many(ledger):  # noqa: F811
    """Seven contractors with an overdue invoice each, besides the ledger's three."""
    for number in range(7):
        contractor = Contractor.objects.create(name=f"Kontrahent {number}",
                                               emails=f"k{number}@example.com")
        invoice(contractor, f"FV/{100 + number}/2026", 5)
    return Contractor.objects.order_by("pk")


def test_a_run_is_chunked_and_each_contractor_reminded_once(
        many, global_config, smtp_server, dummy_tasks, django_capture_on_commit_callbacks):
    keys = list(many.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        run = reminder_runs.start(SOURCE, keys, as_of=TODAY)
    assert run.total == 10 and len(dummy_tasks.results) == 5  # chunks of 2
    # Two "workers" take the same chunks (a task run twice): the claim keeps one send.
    tasks = list(dummy_tasks.results)
    for result in tasks[:3]:
        result.task.call(*result.args)
    run.refresh_from_db()
    assert run.status == "running" and run.remaining > 0
    for result in tasks[3:] + tasks[:1]:
        result.task.call(*result.args)
    run.refresh_from_db()
    assert run.status == "done" and run.finished_at is not None
    assert len(smtp_server.messages) == 9  # 9 owe money; each reminded once
    assert (run.sent, run.failed) == (9, 0)
    # The repeated chunk is counted once: its second task found it done.
    assert run.skipped == 1 and run.remaining == 0 and run.chunks_done == 5
    assert MailLog.objects.filter(status="sent").count() == 9  # sent by the worker itself


def test_a_chunk_lost_with_its_worker_is_sent_by_the_sweep(
        many, global_config, smtp_server, dummy_tasks, django_capture_on_commit_callbacks):
    keys = list(many.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        run = reminder_runs.start(SOURCE, keys, as_of=TODAY)
    tasks = list(dummy_tasks.results)
    # The worker of chunk 1 was killed after sending one reminder: emulated by
    # sending that contractor's reminder alone and dropping the chunk's task.
    from sales.reminders import reminders_for_keys

    from symfonia_mail.backends.configured import ConfiguredEmailBackend
    from symfonia_mail.reminders.sending import send_reminders

    [reached] = send_reminders(reminders_for_keys(keys[3:4], TODAY), as_of=TODAY,
                               connection=ConfiguredEmailBackend(background=False))
    assert reached.status == "sent"
    dummy_tasks.clear()
    for result in tasks[:1] + tasks[2:]:
        result.task.call(*result.args)
    run.refresh_from_db()
    assert run.status == "running" and run.remaining == 2  # stuck: chunk 1 never ends
    assert reminder_runs.requeue_stalled() == 0  # progress was made just now

    later = timezone.now() + timedelta(seconds=601)  # STALE_AFTER
    with django_capture_on_commit_callbacks(execute=True):
        assert reminder_runs.requeue_stalled(later) == 1  # only the unfinished chunk
        assert reminder_runs.requeue_stalled(later) == 0  # one sweeper takes the run
    assert run_ready_tasks(dummy_tasks)
    run.refresh_from_db()
    assert (run.status, run.remaining, run.sent + run.skipped) == ("done", 0, 10)
    sent_to = [m.rcpt_tos[0] for m in smtp_server.messages]
    assert len(sent_to) == len(set(sent_to)) == 9  # each contractor reminded once


def test_cleanup_sweep_queues_stalled_runs_again(
        many, global_config, smtp_server, dummy_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = reminder_runs.start(SOURCE, list(many.values_list("pk", flat=True)), as_of=TODAY)
    dummy_tasks.clear()  # every task lost (say, the queue was flushed)
    ReminderRun.objects.filter(pk=run.pk).update(
        progress_at=timezone.now() - timedelta(hours=1))
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("symfonia_mail_cleanup", "--sweep", stdout=out)
    assert "5" in out.getvalue().splitlines()[-1]  # five chunks queued again
    assert run_ready_tasks(dummy_tasks)
    run.refresh_from_db()
    assert (run.status, run.sent) == ("done", 9)


def test_immediate_backend_runs_the_whole_run_at_commit(
        many, global_config, smtp_server, settings, django_capture_on_commit_callbacks):
    settings.SYMFONIA_MAIL = {"BACKGROUND": True, "REMINDER_CHUNK": 3}
    with django_capture_on_commit_callbacks(execute=True):
        run = reminder_runs.start(SOURCE, list(many.values_list("pk", flat=True)), as_of=TODAY)
    run.refresh_from_db()
    assert (run.status, run.sent, run.skipped, run.remaining) == ("done", 9, 1, 0)
    assert len(smtp_server.messages) == 9


def test_command_background_enqueues_and_returns(ledger, global_config, smtp_server,  # noqa: F811
                                                 dummy_tasks,
                                                 django_capture_on_commit_callbacks):
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("send_payment_reminders", "--background", stdout=out)
    run = ReminderRun.objects.get()
    assert f" {run.pk} " in out.getvalue()  # the run number, in either language
    assert run.total == 2 and smtp_server.messages == []  # nothing sent by the command
    assert run_ready_tasks(dummy_tasks)
    run.refresh_from_db()
    assert (run.status, run.sent) == ("done", 2)


def test_admin_action_starts_a_run_and_shows_its_progress(
        ledger, global_config, smtp_server, dummy_tasks, admin_client,  # noqa: F811
        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:sales_contractor_changelist"), {
            "action": "send_payment_reminders",
            "_selected_action": [str(c.pk) for c in ledger.values()],
        }, follow=True)
    run = ReminderRun.objects.get()
    assert reverse("admin:symfonia_mail_reminderrun_change", args=[run.pk]) in (
        response.content.decode())
    assert smtp_server.messages == []
    run_ready_tasks(dummy_tasks)
    page = admin_client.get(reverse("admin:symfonia_mail_reminderrun_changelist"))
    run.refresh_from_db()
    assert page.status_code == 200 and (run.sent, run.skipped) == (2, 1)
    assert run.get_status_display() in page.content.decode()


def test_the_workers_sweep_finds_stalled_runs(
        many, global_config, smtp_server, dummy_tasks, django_capture_on_commit_callbacks,
        monkeypatch):
    from symfonia_mail.background import delivery

    with django_capture_on_commit_callbacks(execute=True):
        run = reminder_runs.start(SOURCE, list(many.values_list("pk", flat=True)), as_of=TODAY)
    dummy_tasks.clear()
    ReminderRun.objects.filter(pk=run.pk).update(
        progress_at=timezone.now() - timedelta(hours=1))
    monkeypatch.setattr(delivery, "_last_sweep", 0.0)  # due: the last sweep was long ago
    with django_capture_on_commit_callbacks(execute=True):
        delivery.sweep_if_due()  # what each worker does before a task
    assert len(dummy_tasks.results) == 5


def test_a_contractor_refused_while_the_cc_got_it_counts_as_partial(
        ledger, global_config, make_smtp_server, dummy_tasks,  # noqa: F811
        django_capture_on_commit_callbacks):
    """Issue 19 item 14: the run's counts agree with the log and the record (partial)."""
    refused = "nie-ma@acme.example"
    server = make_smtp_server(tls="starttls", users={"mailer": "pw-123456"},
                              refuse_rcpt={refused: "550 5.1.1 User unknown"})
    for name, value in config_values(server, cc="kopia@firma.example").items():
        setattr(global_config, name, value)
    global_config.save()
    Contractor.objects.filter(pk=ledger["acme"].pk).update(emails=refused)
    with django_capture_on_commit_callbacks(execute=True):
        run = reminder_runs.start(SOURCE, [ledger["acme"].pk, ledger["zuraw"].pk], as_of=TODAY)
    for result in list(dummy_tasks.results):
        result.task.call(*result.args)
    run.refresh_from_db()
    assert (run.status, run.sent, run.partial, run.failed, run.remaining) == (
        "done", 1, 1, 0, 0)
    assert MailLog.objects.filter(status=MailLog.Status.PARTIAL).count() == 1
