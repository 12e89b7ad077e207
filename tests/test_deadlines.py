"""Deadlines, not timeouts: a trickling server cannot hold a send (issue 10 item 2).

The server sends one reply one byte every 0.25 s, on its first connection
only. smtplib's per-read timeout never fires on such a server (each byte
arrives in time), so before the dialogue had deadlines these sends took as
long as the server liked. Each must now fail within the reply timeout T (plus
a margin for a loaded machine), be logged as failed with its reason, and the
next send must work.
"""

import time

import pytest
from django.core.mail import send_mail

from symfonia_mail.exceptions import ServerTimeout
from symfonia_mail.models import GlobalMailConfig, MailLog

from .conftest import config_values
from .smtpd_faults import TRICKLE_STAGES, trickling_smtp_class

pytestmark = pytest.mark.django_db

T_MS = 1000
MARGIN_S = 2.0  # scheduling on a loaded 2-core machine


@pytest.mark.parametrize("stage", TRICKLE_STAGES)
def test_trickling_server_fails_within_the_timeout_and_the_next_send_works(
        make_smtp_server, stage, _pipelining):
    server = make_smtp_server(tls="starttls", users={"mailer": "pw-123456"},
                              smtp_class=trickling_smtp_class(stage))
    config = GlobalMailConfig.get_solo()
    for name, value in config_values(server, timeout_ms=T_MS).items():
        setattr(config, name, value)
    config.save()

    started = time.monotonic()
    with pytest.raises(ServerTimeout, match="timed out"):
        send_mail("Faktura", "Treść", None, ["klient@example.com", "kopia@example.com"])
    elapsed = time.monotonic() - started
    print(f"TIME-TO-FAIL stage={stage} pipelining={_pipelining} {elapsed:.2f}s")
    assert elapsed < T_MS / 1000 + MARGIN_S

    failed = MailLog.objects.get()
    # After the whole message the server may have it: unknown, never failed (nor resent).
    expected = MailLog.Status.UNKNOWN if stage == "data" else MailLog.Status.FAILED
    assert failed.status == expected
    assert "timed out" in failed.error and "timeout" in failed.error.lower()

    assert send_mail("Faktura", "Treść", None, ["klient@example.com"]) == 1
    assert MailLog.objects.filter(status=MailLog.Status.SENT).count() == 1
    assert len(server.messages) == (2 if stage == "data" else 1)
