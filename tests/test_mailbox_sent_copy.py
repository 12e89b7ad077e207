"""The Sent copy: sent messages appended to the private Dovecot's \\Sent folder."""

import email
import logging

import pytest
from django.core import mail

from symfonia_mail.config import resolver
from symfonia_mail.mailbox import sent_copy
from symfonia_mail.mailbox.imap import ImapSession
from symfonia_mail.models import GlobalMailConfig, MailLog

from .conftest import save_global

pytestmark = [pytest.mark.dovecot, pytest.mark.django_db]


@pytest.fixture
def mailbox(dovecot):
    """A fresh Dovecot user: (address, password)."""
    return dovecot.add_user()


def imap_values(dovecot, mailbox, **overrides):
    address, password = mailbox
    return {"imap_host": dovecot.host, "imap_port": dovecot.port, "imap_security": "starttls",
            "imap_username": address, "imap_password": password, **overrides}


def sent_messages(dovecot, mailbox, folder="Sent"):
    """Return [(flags, parsed message)] of *folder* in *mailbox*."""
    address, password = mailbox
    config = resolver.from_model(GlobalMailConfig(
        username=address, password=password, imap_host=dovecot.host, imap_port=dovecot.port,
        imap_security="starttls", timeout_ms=5000))
    with ImapSession(config) as session:
        session.select(folder)
        uids = session.search_above(0)
        fetched = session.fetch(uids, "FLAGS BODY.PEEK[]")
    return [(flags, email.message_from_bytes(data)) for _uid, flags, data in fetched]


def logins(dovecot, mailbox):
    return dovecot.log_text().count(f"Login: user=<{mailbox[0]}>")


def test_each_sent_message_is_appended_once_to_the_sent_folder_in_one_session(
        dovecot, mailbox, smtp_server):
    save_global(smtp_server, **imap_values(dovecot, mailbox, sent_copy="always"))
    sent = mail.send_mass_mail([
        ("Faktura 1", "Treść 1", None, ["a@example.com"]),
        ("Faktura 2", "Treść 2", None, ["b@example.com"]),
    ])
    assert sent == 2
    copies = sent_messages(dovecot, mailbox)
    assert sorted(message["Subject"] for _flags, message in copies) == ["Faktura 1", "Faktura 2"]
    assert all("\\Seen" in flags for flags, _message in copies)
    ids = {row.message_id for row in MailLog.objects.all()}
    assert {message["Message-ID"] for _flags, message in copies} == ids
    # One IMAP session for the batch (the check above logs in once more).
    assert logins(dovecot, mailbox) == 2
    assert smtp_server.messages[0].data.count(b"Faktura 1") == 1


def test_never_does_not_append(dovecot, mailbox, smtp_server):
    save_global(smtp_server, **imap_values(dovecot, mailbox, sent_copy="never"))
    mail.send_mail("Faktura", "Treść", None, ["a@example.com"])
    assert sent_messages(dovecot, mailbox) == []
    assert logins(dovecot, mailbox) == 1  # only the check's own


def test_auto_on_a_microsoft_mailbox_does_not_append_nor_connect(smtp_server, db, caplog):
    save_global(smtp_server, imap_host="outlook.office365.com", sent_copy="auto")
    with caplog.at_level(logging.WARNING, logger="symfonia_mail"):
        assert mail.send_mail("Faktura", "Treść", None, ["a@example.com"]) == 1
    assert "Sent copy" not in caplog.text  # nothing tried (a try would fail offline)


@pytest.mark.parametrize(("values", "wanted"), [
    ({"host": "mail.firma.pl", "imap_host": "mail.firma.pl", "sent_copy": "auto"}, True),
    ({"host": "smtp.office365.com", "imap_host": "mail.firma.pl", "sent_copy": "auto"}, False),
    ({"host": "smtp.gmail.com", "imap_host": "imap.gmail.com", "sent_copy": "auto"}, False),
    ({"host": "x.mail.protection.outlook.com", "imap_host": "m.pl", "sent_copy": "auto"}, False),
    ({"host": "smtp.gmail.com", "imap_host": "imap.gmail.com", "sent_copy": "always"}, True),
    ({"host": "mail.firma.pl", "imap_host": "mail.firma.pl", "sent_copy": "never"}, False),
    ({"host": "mail.firma.pl", "imap_host": "", "sent_copy": "always"}, False),
])
def test_which_configurations_want_a_sent_copy(values, wanted):
    assert sent_copy.wanted(resolver.from_model(GlobalMailConfig(**values))) is wanted


def test_an_imap_failure_leaves_the_sends_sent_and_logs_one_line(smtp_server, db, caplog):
    import socket

    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there any more
    save_global(smtp_server, imap_host="127.0.0.1", imap_port=port, imap_security="ssl",
                sent_copy="always")
    with caplog.at_level(logging.WARNING, logger="symfonia_mail"):
        sent = mail.send_mass_mail([(f"Faktura {n}", "Treść", None, ["a@example.com"])
                                    for n in range(3)])
    assert sent == 3
    assert set(MailLog.objects.values_list("status", flat=True)) == {MailLog.Status.SENT}
    lines = [r for r in caplog.records if "Sent copy" in r.getMessage()]
    assert len(lines) == 1
    assert "3 message(s)" in lines[0].getMessage()
    assert smtp_server.password not in caplog.text


def test_a_wrong_imap_password_is_logged_without_it(dovecot, mailbox, smtp_server, caplog):
    save_global(smtp_server, **imap_values(dovecot, mailbox, imap_password="Zle-Haslo-77",
                                           sent_copy="always"))
    with caplog.at_level(logging.WARNING, logger="symfonia_mail"):
        assert mail.send_mail("Faktura", "Treść", None, ["a@example.com"]) == 1
    assert MailLog.objects.get().status == MailLog.Status.SENT
    assert "login failed" in caplog.text and "Zle-Haslo-77" not in caplog.text


def test_background_sending_files_the_copy_inside_the_delivery_task(
        dovecot, mailbox, smtp_server, settings, django_capture_on_commit_callbacks):
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "BACKGROUND": True}
    save_global(smtp_server, **imap_values(dovecot, mailbox, sent_copy="always"))
    with django_capture_on_commit_callbacks(execute=True):
        mail.send_mail("Faktura w tle", "Treść", None, ["a@example.com"])
    assert MailLog.objects.get().status == MailLog.Status.SENT
    [(flags, message)] = sent_messages(dovecot, mailbox)
    assert message["Subject"] == "Faktura w tle" and "\\Seen" in flags


def test_large_messages_are_filed_as_they_pile_up_in_the_same_session(
        dovecot, mailbox, smtp_server, monkeypatch):
    monkeypatch.setattr(sent_copy, "PENDING_BYTES", 1)  # every message is "large"
    save_global(smtp_server, **imap_values(dovecot, mailbox, sent_copy="always"))
    filed_during = []
    original = sent_copy.SentCopies.flush

    def flush(self):
        original(self)
        filed_during.append(self.filed)

    monkeypatch.setattr(sent_copy.SentCopies, "flush", flush)
    mail.send_mass_mail([(f"Faktura {n}", "Treść", None, ["a@example.com"]) for n in range(3)])
    assert filed_during[:3] == [1, 2, 3]  # appended as each came, not held to the end
    assert len(sent_messages(dovecot, mailbox)) == 3
    assert logins(dovecot, mailbox) == 2  # still one session for the batch (+ the check)


def test_a_worker_keeps_its_imap_session_and_replaces_one_the_server_dropped(
        dovecot, mailbox, smtp_server, settings, django_capture_on_commit_callbacks, caplog):
    from symfonia_mail.background import delivery, taskq

    from .test_background import DUMMY, run_ready_tasks

    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "BACKGROUND": True}
    settings.TASKS = DUMMY
    backend = taskq.backend()
    backend.clear()
    save_global(smtp_server, **imap_values(dovecot, mailbox, sent_copy="always"))
    for number in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            mail.send_mail(f"Faktura {number}", "Treść", None, ["a@example.com"])
    run_ready_tasks(backend)  # one worker thread sends the three
    assert logins(dovecot, mailbox) == 1  # one IMAP session for the three copies
    [(session, _folder)] = delivery._kept.copies.sessions.values()
    session.imap.shutdown()  # the server dropped the idle session
    with django_capture_on_commit_callbacks(execute=True):
        mail.send_mail("Faktura 3", "Treść", None, ["a@example.com"])
    with caplog.at_level(logging.WARNING, logger="symfonia_mail"):
        run_ready_tasks(backend)
    assert "Sent copy" not in caplog.text
    subjects = sorted(message["Subject"] for _flags, message in sent_messages(dovecot, mailbox))
    assert subjects == [f"Faktura {n}" for n in range(4)]
    assert set(MailLog.objects.values_list("status", flat=True)) == {MailLog.Status.SENT}
    backend.clear()
