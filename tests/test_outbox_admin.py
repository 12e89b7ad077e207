"""Resend and cancel from the MailLog admin (test client), and symfonia_mail_cleanup."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from symfonia_mail.models import MailLog, OutboxMessage

from .conftest import save_global
from .test_background import DUMMY, run_ready_tasks

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:symfonia_mail_maillog_changelist")


@pytest.fixture
def queued(settings, smtp_server, django_capture_on_commit_callbacks):
    """Three messages in the outbox (the dummy Tasks backend keeps their tasks)."""
    from django.core.mail import send_mail

    from symfonia_mail.background import taskq

    settings.SYMFONIA_MAIL = {"BACKGROUND": True}
    settings.TASKS = DUMMY
    backend = taskq.backend()
    backend.clear()
    save_global(smtp_server)
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(3):
            send_mail(f"Faktura {number}", "b", None, ["client@example.com"])
    yield backend
    backend.clear()


def act(client, action, ids, confirm):
    data = {"action": action, "_selected_action": [str(i) for i in ids]}
    if confirm:
        data["post"] = "yes"
    return client.post(CHANGELIST, data, follow=confirm)


def test_cancel_asks_first_then_cancels_only_queued(admin_client, queued):
    logs = list(MailLog.objects.order_by("pk"))
    MailLog.objects.filter(pk=logs[2].pk).update(status="sent")
    page = act(admin_client, "cancel_messages", [log.pk for log in logs], confirm=False)
    assert page.status_code == 200 and "Faktura 0" in page.content.decode()
    assert MailLog.objects.filter(status="queued").count() == 2  # nothing done yet
    act(admin_client, "cancel_messages", [log.pk for log in logs], confirm=True)
    assert sorted(MailLog.objects.values_list("status", flat=True)) == [
        "cancelled", "cancelled", "sent"]
    assert run_ready_tasks(queued) == [None, None, None]  # nothing claimed, nothing sent


def test_resend_failed_and_unknown_messages(admin_client, queued, smtp_server,
                                            django_capture_on_commit_callbacks):
    logs = list(MailLog.objects.order_by("pk"))
    MailLog.objects.filter(pk=logs[0].pk).update(status="failed", error="451 later")
    MailLog.objects.filter(pk=logs[1].pk).update(status="unknown")
    queued.clear()
    page = act(admin_client, "resend_messages", [logs[0].pk, logs[1].pk, logs[2].pk],
               confirm=False)
    text = page.content.decode()
    assert "may already have reached the recipient" in text or "mogła już dotrzeć" in text
    assert MailLog.objects.get(pk=logs[0].pk).status == "failed"
    with django_capture_on_commit_callbacks(execute=True):
        act(admin_client, "resend_messages", [logs[0].pk, logs[1].pk, logs[2].pk],
            confirm=True)
    assert MailLog.objects.get(pk=logs[0].pk).status == "queued"
    assert MailLog.objects.get(pk=logs[1].pk).status == "queued"
    assert len(queued.results) == 2  # the queued third one is not queued twice
    assert sorted(run_ready_tasks(queued)) == ["sent", "sent"]
    assert len(smtp_server.messages) == 2


def test_view_only_staff_cannot_resend(client, queued):
    staff = User.objects.create_user("anna", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_maillog"))
    client.force_login(staff)
    MailLog.objects.update(status="failed", sent_by=staff)
    response = act(client, "resend_messages", list(MailLog.objects.values_list("pk", flat=True)),
                   confirm=True)
    assert response.status_code == 200
    assert set(MailLog.objects.values_list("status", flat=True)) == {"failed"}


def test_cleanup_deletes_old_finished_messages_only(queued):
    old = timezone.now() - timedelta(days=40)
    logs = list(MailLog.objects.order_by("pk"))
    MailLog.objects.filter(pk=logs[0].pk).update(status="sent", created_at=old)
    MailLog.objects.filter(pk=logs[1].pk).update(status="queued", created_at=old)
    MailLog.objects.filter(pk=logs[2].pk).update(status="failed")  # recent
    out = StringIO()
    call_command("symfonia_mail_cleanup", "--days", "30", stdout=out)
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {logs[1].pk, logs[2].pk}
    assert MailLog.objects.count() == 3
    MailLog.objects.filter(pk=logs[2].pk).update(created_at=old)
    call_command("symfonia_mail_cleanup", "--days", "30", "--logs", stdout=out)
    assert list(MailLog.objects.values_list("pk", flat=True)) == [logs[1].pk]


def test_cleanup_sweep_requeues_lost_messages(queued):
    OutboxMessage.objects.update(queued_at=timezone.now() - timedelta(hours=1))
    queued.clear()
    call_command("symfonia_mail_cleanup", "--sweep", stdout=StringIO())
    assert len(queued.results) == 3
