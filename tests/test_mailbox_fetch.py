"""Reading delivery reports over IMAP: real Postfix reports in a real Dovecot mailbox."""

import io
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from symfonia_mail.background import delivery, taskq
from symfonia_mail.config import resolver
from symfonia_mail.mailbox import fetch
from symfonia_mail.mailbox.imap import ImapSession
from symfonia_mail.models import DeliveryEvent, GlobalMailConfig, MailLog, ReportCursor
from symfonia_mail.reports import fetching

pytestmark = [pytest.mark.dovecot, pytest.mark.postfix, pytest.mark.django_db]

SENDER = "nadawca@dsn.test"


def save_config(server_host, server_port, dovecot, address, password, **values):
    config = GlobalMailConfig.get_solo()
    fields = {
        "transport": "smtp", "host": server_host, "port": server_port, "security": "none",
        "timeout_ms": 10000, "sender_email": address, "sender_name": "Nadawca",
        "imap_host": dovecot.host, "imap_port": dovecot.port, "imap_security": "starttls",
        "imap_username": address, "imap_password": password, "sent_copy": "never", **values}
    for name, value in fields.items():
        setattr(config, name, value)
    config.full_clean()
    config.save()
    return resolver.from_model(config)


def session_for(dovecot, address):
    return ImapSession(resolver.from_model(GlobalMailConfig(
        username=address, password=dovecot.users[address], imap_host=dovecot.host,
        imap_port=dovecot.port, imap_security="starttls", timeout_ms=5000)))


def dsn(envelope_id, recipient, *, action="failed", status="5.1.1", message_id="<x@y>"):
    """Return a minimal RFC 3464 report (bytes) about *envelope_id*."""
    return (
        "From: MAILER-DAEMON@mta.example\r\nTo: nadawca@dsn.test\r\n"
        f"Subject: Delivery Status Notification\r\nMessage-ID: <{uuid.uuid4().hex}@mta>\r\n"
        "MIME-Version: 1.0\r\nAuto-Submitted: auto-replied\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThe message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mta.example\r\nOriginal-Envelope-Id: {envelope_id}\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 No such user\r\n\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nSubject: Faktura\r\n\r\n--b--\r\n").encode()


def logged(recipient):
    """Return a MailLog row as if a message to *recipient* had been sent with DSN."""
    return MailLog.objects.create(
        status="sent", scope="global", transport="smtp", recipients=recipient,
        envelope_id=uuid.uuid4().hex, message_id=f"<{uuid.uuid4().hex}@firma>",
        created_at=timezone.now())


def plain(subject):
    return (f"From: kontrahent@example.com\r\nTo: nadawca@dsn.test\r\nSubject: {subject}\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@k>\r\n\r\nZwykła wiadomość.\r\n").encode()


def mailbox_with_reports(dovecot, count):
    """Configure a fresh mailbox holding *count* bounces of logged messages.

    Return (its address, the MailLog rows).
    """
    address, password = dovecot.add_user()
    rows = [logged(f"r{n}@firma.example") for n in range(count)]
    with session_for(dovecot, address) as session:
        for n, row in enumerate(rows):
            session.append("INBOX", dsn(row.envelope_id, f"r{n}@firma.example"))
    save_config("127.0.0.1", 25, dovecot, address, password)
    return address, rows


def flags_by_subject(dovecot, address, folder="INBOX"):
    with session_for(dovecot, address) as session:
        session.select(folder)
        fetched = session.fetch(session.search_above(0), "FLAGS BODY.PEEK[HEADER.FIELDS "
                                                         "(SUBJECT)]")
    return {data.decode().strip().removeprefix("Subject: "): set(flags) - {"\\Recent"}
            for _uid, flags, data in fetched}


def test_a_real_postfix_bounce_and_success_report_become_bounced_and_delivered(
        postfix, dovecot):
    password = dovecot.users[SENDER]
    save_config(postfix.host, postfix.port, dovecot, SENDER, password,
                dsn_notify="OnSuccess,OnFailure")
    mail.send_mail("Faktura dostarczona", "Treść", None, ["odbiorca@dsn.test"])
    mail.send_mail("Faktura odbita", "Treść", None, ["nikt-taki@localhost"])
    delivered, bounced = MailLog.objects.order_by("id")
    for row in (delivered, bounced):
        postfix.wait_for("nadawca", lambda m, row=row: row.envelope_id in m.as_string())

    out = io.StringIO()
    call_command("symfonia_mail_fetch_reports", stdout=out)
    delivered.refresh_from_db()
    bounced.refresh_from_db()
    assert delivered.delivery == "delivered"
    assert bounced.delivery == "bounced"
    [event] = DeliveryEvent.objects.filter(maillog=bounced)
    assert (event.recipient, event.action, event.status) == (
        "nikt-taki@localhost", "failed", "5.1.1")
    assert DeliveryEvent.objects.get(maillog=delivered).action == "delivered"
    assert "global, INBOX" in out.getvalue()

    # Both reports carry the keyword; the second run records nothing new.
    events = DeliveryEvent.objects.count()
    [result] = fetching.fetch_all()
    assert (result.looked, result.reports) == (0, 0)
    assert DeliveryEvent.objects.count() == events
    with session_for(dovecot, SENDER) as session:
        session.select("INBOX")
        marked = session.imap.uid("SEARCH", "KEYWORD", fetch.KEYWORD)[1][0].split()
    assert len(marked) >= 2


def test_flags_of_other_messages_stay_and_only_reports_are_downloaded(dovecot):
    address, password = dovecot.add_user()
    row = logged("zly@firma.example")
    with session_for(dovecot, address) as session:
        session.append("INBOX", plain("Nieprzeczytana"), flags="()")
        session.append("INBOX", plain("Przeczytana"), flags="(\\Seen)")
        session.append("INBOX", dsn(row.envelope_id, "zly@firma.example"), flags="()")
    save_config("127.0.0.1", 25, dovecot, address, password)

    [result] = fetching.fetch_all()
    assert (result.looked, result.downloaded, result.reports, result.matched) == (3, 1, 1, 1)
    flags = flags_by_subject(dovecot, address)
    assert "\\Seen" not in flags["Nieprzeczytana"] and fetch.KEYWORD not in flags["Nieprzeczytana"]
    assert flags["Przeczytana"] == {"\\Seen"}
    assert flags["Delivery Status Notification"] == {fetch.KEYWORD}  # still unread
    row.refresh_from_db()
    assert row.delivery == "bounced"


def test_the_cursor_starts_over_when_uidvalidity_changes(dovecot):
    address, password = dovecot.add_user()
    first, second = logged("a@firma.example"), logged("b@firma.example")
    config = save_config("127.0.0.1", 25, dovecot, address, password, reports_folder="Raporty")
    with session_for(dovecot, address) as session:
        session.imap.create("Raporty")
        session.append("Raporty", dsn(first.envelope_id, "a@firma.example"))
    fetching.fetch_all()
    cursor = ReportCursor.objects.get(config_key="global", folder="Raporty")
    assert cursor.last_uid == 1

    with session_for(dovecot, address) as session:  # the folder is made anew: UIDs restart
        session.imap.delete("Raporty")
        session.imap.create("Raporty")
        session.append("Raporty", dsn(second.envelope_id, "b@firma.example"))
    [result] = fetching.fetch_all()
    assert result.matched == 1
    second.refresh_from_db()
    assert second.delivery == "bounced"
    cursor.refresh_from_db()
    assert cursor.last_uid == 1 and cursor.uidvalidity != 0
    assert config.reports_folder == "Raporty"


def test_a_run_that_reads_the_same_reports_again_records_nothing_and_never_moves_back(dovecot):
    address, _rows = mailbox_with_reports(dovecot, 3)
    fetching.fetch_all()
    events = DeliveryEvent.objects.count()
    assert events == 3
    # A second run that started before the first one moved the cursor or set the keyword.
    cursor = ReportCursor.objects.get()
    with session_for(dovecot, address) as session:
        session.select("INBOX")
        session.imap.uid("STORE", "1:*", "-FLAGS.SILENT", f"({fetch.KEYWORD})")
    ReportCursor.objects.filter(pk=cursor.pk).update(last_uid=0)
    [result] = fetching.fetch_all()
    assert result.reports == 3 and DeliveryEvent.objects.count() == events
    ReportCursor.objects.filter(pk=cursor.pk).update(last_uid=5)
    fetching.fetch_all()
    assert ReportCursor.objects.get().last_uid == 5  # an older run never moves it back


def test_a_run_is_bounded_by_reports_batch(dovecot, settings):
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "REPORTS_BATCH": 2}
    mailbox_with_reports(dovecot, 3)
    assert [r.looked for r in fetching.fetch_all()] == [2]
    assert [r.looked for r in fetching.fetch_all()] == [1]
    assert [r.looked for r in fetching.fetch_all()] == [0]


def test_the_command_reads_one_users_configuration_and_fails_on_a_broken_mailbox(
        dovecot, django_user_model):
    from symfonia_mail.models import UserMailConfig

    address, password = dovecot.add_user()
    user = django_user_model.objects.create_user("ksiegowa")
    UserMailConfig.objects.create(
        user=user, scope="individual", transport="smtp", host="127.0.0.1", port=25,
        sender_email=address, imap_host=dovecot.host, imap_port=dovecot.port,
        imap_security="starttls", imap_username=address, imap_password="zle-haslo")
    with pytest.raises(CommandError):
        call_command("symfonia_mail_fetch_reports", "--config", "ksiegowa", stdout=io.StringIO())
    assert "login failed" in ReportCursor.objects.get(config_key=f"user:{user.pk}").error
    UserMailConfig.objects.filter(user=user).update(imap_password=password)
    resolver.clear_cache()
    out = io.StringIO()
    call_command("symfonia_mail_fetch_reports", "--config", "ksiegowa", stdout=out)
    assert f"user:{user.pk}, INBOX: nowe wiadomości: 0," in out.getvalue()  # LANGUAGE_CODE pl
    with pytest.raises(CommandError):
        call_command("symfonia_mail_fetch_reports", "--config", "nikt", stdout=io.StringIO())


def test_the_workers_fetch_every_reports_interval(dovecot, settings, monkeypatch):
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "BACKGROUND": True,
                              "REPORTS_INTERVAL": 300}
    address, password = dovecot.add_user()
    row = logged("w@firma.example")
    with session_for(dovecot, address) as session:
        session.append("INBOX", dsn(row.envelope_id, "w@firma.example"))
    save_config("127.0.0.1", 25, dovecot, address, password)
    monkeypatch.setattr(fetching, "_last_fetch", None)
    delivery.housekeeping.send(sender=delivery.sweep)
    row.refresh_from_db()
    assert row.delivery == "bounced"
    checked = ReportCursor.objects.get().checked_at
    delivery.housekeeping.send(sender=delivery.sweep)  # within the interval: nothing
    assert ReportCursor.objects.get().checked_at == checked
    # Another worker process (its own timer) finds the folder read a moment ago.
    monkeypatch.setattr(fetching, "_last_fetch", None)
    delivery.housekeeping.send(sender=delivery.sweep)
    assert ReportCursor.objects.get().checked_at == checked


def test_whoever_reads_a_folder_queues_the_next_reading_for_a_quiet_site(
        dovecot, settings, monkeypatch):
    from .test_background import DUMMY, run_ready_tasks

    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "BACKGROUND": True,
                              "REPORTS_INTERVAL": 300}
    settings.TASKS = DUMMY
    backend = taskq.backend()
    backend.clear()
    mailbox_with_reports(dovecot, 1)
    monkeypatch.setattr(fetching, "_last_fetch", None)
    delivery.housekeeping.send(sender=delivery.sweep)
    [queued] = backend.results
    wait = (queued.task.run_after - timezone.now()).total_seconds()
    assert 290 < wait <= 300
    # Due early (another worker read the folder meanwhile): it reads nothing, queues nothing.
    backend.results.clear()
    queued.task.call()
    assert backend.results == []
    # Due for real: it reads the folder and queues the one after.
    ReportCursor.objects.update(checked_at=timezone.now() - timedelta(seconds=301))
    queued.task.call()
    assert len(backend.results) == 1
    assert ReportCursor.objects.get().checked_at > timezone.now() - timedelta(
        seconds=5)
    run_ready_tasks(backend)  # not due yet: nothing runs
    assert len(backend.results) == 1
    backend.clear()


def test_an_unreadable_imap_password_is_reported_and_never_breaks_the_workers_sweep(
        dovecot, settings, monkeypatch, caplog):
    from cryptography.fernet import Fernet
    from django.db import connection

    address, password = dovecot.add_user()
    save_config("127.0.0.1", 25, dovecot, address, password)
    token = Fernet(Fernet.generate_key()).encrypt(b"other-key").decode()
    with connection.cursor() as cursor:  # saved under another FIELD_ENCRYPTION_KEY
        cursor.execute("UPDATE symfonia_mail_globalmailconfig SET imap_password = %s", [token])
    resolver.clear_cache()
    [result] = fetching.fetch_all()
    assert "cannot be decrypted" in result.error and token not in result.error
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "BACKGROUND": True}
    monkeypatch.setattr(fetching, "_last_fetch", None)
    monkeypatch.setattr(fetching, "fetch_all", lambda **kw: 1 / 0)  # anything at all
    delivery.housekeeping.send(sender=delivery.sweep)  # does not raise
    assert "Delivery reports not read: ZeroDivisionError" in caplog.text
