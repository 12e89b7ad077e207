"""The one SMTP dialogue: pipelining (RFC 2920), observation, no smtplib privates."""

import asyncio
import re
import time
from pathlib import Path

import pytest
from django.core.mail import EmailMessage, send_mail

from symfonia_mail.config.resolver import resolve
from symfonia_mail.models import GlobalMailConfig, MailLog
from symfonia_mail.smtp.connection import SmtpConnection

from .conftest import config_values
from .smtpd import DSNSMTP
from .smtpd_faults import DelayProxy

pytestmark = pytest.mark.django_db

PACKAGE = Path(__file__).resolve().parent.parent / "symfonia_mail"


def test_no_private_smtplib_attribute_is_used():
    # _host, _get_socket and friends: private to smtplib, they change between versions.
    pattern = re.compile(r"\._host\b|_get_socket|smtplib\.\w+\._\w+|\.(_rset|_print_debug)\b")
    offenders = [f"{path.name}:{n}" for path in PACKAGE.rglob("*.py")
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []


def configure(host, port, server, **overrides):
    config = GlobalMailConfig.get_solo()
    for name, value in config_values(server, host=host, port=port, **overrides).items():
        setattr(config, name, value)
    config.save()


@pytest.mark.parametrize("enabled", [True, False], ids=["pipelining", "no-pipelining"])
def test_pipelining_sends_mail_rcpts_and_data_in_one_write(make_smtp_server, settings,
                                                           enabled):
    settings.SYMFONIA_MAIL = {"PIPELINING": enabled}
    server = make_smtp_server(tls=None, dsn=True)
    proxy = DelayProxy(server.port, 0.0)
    try:
        configure("127.0.0.1", proxy.port, server, security="none", username="",
                  password="", dsn_notify="OnFailure")
        smtp = SmtpConnection(resolve())
        smtp.open()
        before = proxy.chunks
        delivery = smtp.deliver("biuro@firma.example",
                                ["a@example.com", "b@example.com", "c@example.com"],
                                b"Subject: x\r\n\r\nbody\r\n")
        writes = proxy.chunks - before
        smtp.discard()
    finally:
        proxy.stop()
    assert delivery.pipelined is enabled
    # Pipelined: one group (MAIL + 3 RCPT + DATA) and the content. Otherwise one
    # write per command: MAIL, RCPT x3, DATA, content.
    assert writes == (2 if enabled else 6)
    [received] = server.messages
    assert received.rcpt_tos == ["a@example.com", "b@example.com", "c@example.com"]
    assert received.param("NOTIFY", "c@example.com") == "FAILURE"
    assert received.param("ENVID") == delivery.envelope_id.upper()


def test_observer_hears_every_reply_of_a_real_send(smtp_server, global_config):
    events = []
    smtp = SmtpConnection(resolve(), observer=events.append)
    smtp.open()
    smtp.deliver("biuro@firma.example", ["a@example.com"], b"Subject: x\r\n\r\nb\r\n")
    smtp.discard()
    steps = [event.step for event in events]
    assert steps[:6] == ["greeting", "ehlo", "starttls", "tls", "ehlo", "auth"]
    assert steps[-4:] == ["mail", "rcpt", "data", "message"]  # QUIT's reply is not awaited
    assert all(event.seconds >= 0 for event in events)
    assert events[-1].reply.code == 250


class _SilentQuitSMTP(DSNSMTP):
    """Takes QUIT and never answers it (a slow or lossy network looks the same)."""

    quits = 0

    async def smtp_QUIT(self, arg):
        type(self).quits += 1
        await asyncio.sleep(30)  # the client is gone long before; the server stops it


def test_a_single_send_does_not_wait_for_the_reply_to_quit(make_smtp_server, settings):
    # QUIT at the end of the call: what Django does, and ours with KEEP_ALIVE = 0.
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "KEEP_ALIVE": 0}
    _SilentQuitSMTP.quits = 0
    server = make_smtp_server(tls=None, smtp_class=_SilentQuitSMTP)
    configure("127.0.0.1", server.port, server, security="none", username="", password="",
              timeout_ms=5000)
    started = time.monotonic()
    assert send_mail("Faktura", "Treść", None, ["klient@example.com"]) == 1
    elapsed = time.monotonic() - started
    # Waiting for 221 would take the whole reply timeout (5 s) here.
    assert elapsed < 2.5, elapsed
    assert len(server.messages) == 1
    deadline = time.monotonic() + 5
    while _SilentQuitSMTP.quits == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _SilentQuitSMTP.quits == 1  # QUIT was said, only its reply is not awaited


def test_two_messages_on_one_pipelined_connection(smtp_server, global_config):
    messages = [EmailMessage("s", "b", to=[f"r{i}@example.com"]) for i in range(3)]
    from django.core.mail import get_connection

    assert get_connection().send_messages(messages) == 3
    assert MailLog.objects.filter(status="sent").count() == 3
    assert [m.rcpt_tos for m in smtp_server.messages] == [[f"r{i}@example.com"]
                                                         for i in range(3)]
