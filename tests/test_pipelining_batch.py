"""Pipelining across the messages of one batch (RFC 2920, issue 23 part 3).

The final "." of message N goes in one write with message N+1's MAIL/RCPT/DATA,
so a batch costs about one round trip per message. Every outcome must be what
it is without it: each test that compares runs the same batch with
``SYMFONIA_MAIL["PIPELINING"]`` off (today's behaviour, one reply at a time) and
checks statuses, log rows, exceptions and post_send are the same.
"""

import time

import pytest
from django.contrib.auth.models import User
from django.core.mail import EmailMessage, get_connection

from symfonia_mail import signals
from symfonia_mail.models import MailLog, UserMailConfig

from .conftest import config_values
from .smtpd import CountingSMTP, RecordingHandler, SessionHandler
from .smtpd_faults import DelayProxy, trickling_smtp_class
from .test_smtp_dialogue import configure

pytestmark = pytest.mark.django_db

BAD = "nieznany@example.com"


class RefuseMarkedHandler(RecordingHandler):
    """Answer 554 at the end of DATA to a message whose subject says "odrzuć"."""

    async def handle_DATA(self, server, session, envelope):
        if b"odrzu" in (envelope.original_content or envelope.content):
            with self.lock:
                self.data_attempts += 1
            return "554 5.7.1 Message rejected as spam"
        return await super().handle_DATA(server, session, envelope)


class VanishAtHandler(SessionHandler):
    """Drop the connection after the whole content of the *at*-th message, before its 250."""

    def __init__(self, at, **options):
        super().__init__(**options)
        self.at = at
        self.seen = 0

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.seen == self.at:
            self.vanish_after_data = True
        return await super().handle_DATA(server, session, envelope)


def use(server, port=None):
    configure("127.0.0.1", port or server.port, server, security="none", username="",
              password="")


def batch(n, subject="Faktura {i}", to=lambda i: [f"k{i}@example.com"]):
    return [EmailMessage(subject.format(i=i), "Treść", None, to(i)) for i in range(1, n + 1)]


def outcome(messages, *, fail_silently=False):
    """Send *messages* in one call; return what a caller and the log can see of it."""
    heard = []

    def receiver(sender, message, status, **kwargs):
        heard.append((message.subject, status.status, sorted(status.refused)))

    signals.post_send.connect(receiver)
    try:
        try:
            sent, raised = get_connection(fail_silently=fail_silently).send_messages(
                messages), None
        except Exception as exc:  # noqa: BLE001 - compared between the two runs
            sent, raised = None, type(exc).__name__
    finally:
        signals.post_send.disconnect(receiver)
    rows = [(row.subject, row.status, row.refused_recipients, row.error[:40])
            for row in MailLog.objects.order_by("id")]
    statuses = [(m.subject, m.symfonia_status.status) for m in messages]
    MailLog.objects.all().delete()
    return {"sent": sent, "raised": raised, "rows": rows, "statuses": statuses,
            "post_send": heard}


def both_ways(settings, run):
    """Return run()'s outcome with pipelining on, and with it off (today's behaviour)."""
    results = []
    for enabled in (True, False):
        settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "PIPELINING": enabled}
        results.append(run())
    return results


def test_a_batch_costs_one_round_trip_per_message(make_smtp_server, settings):
    server = make_smtp_server(tls=None)
    proxy = DelayProxy(server.port, 0.05)
    try:
        use(server, proxy.port)
        assert get_connection().send_messages(batch(1)) == 1  # the session is open, kept
        before, started = proxy.chunks, time.monotonic()
        assert get_connection().send_messages(batch(20)) == 20
        elapsed, writes = time.monotonic() - started, proxy.chunks - before
    finally:
        proxy.stop()
    # One write per message (its MAIL/RCPT/DATA after the previous content), and the
    # last content: 21, where one reply at a time per content made it 40.
    assert writes == 21, writes
    assert elapsed < 20 * 0.05 * 1.6, elapsed  # two round trips a message took 2 s
    assert len(server.messages) == 21
    assert MailLog.objects.filter(status="sent").count() == 21


def test_without_pipelining_offered_each_content_waits_for_its_reply(make_smtp_server):
    server = make_smtp_server(tls=None, pipelining=False)
    proxy = DelayProxy(server.port, 0.0)
    try:
        use(server, proxy.port)
        assert get_connection().send_messages(batch(1)) == 1
        before = proxy.chunks
        assert get_connection().send_messages(batch(5)) == 5
        writes = proxy.chunks - before
    finally:
        proxy.stop()
    assert writes == 5 * 4  # MAIL, RCPT, DATA, the content: one at a time, as before
    assert MailLog.objects.filter(status="sent").count() == 6


@pytest.mark.parametrize("fail_silently", [False, True], ids=["raising", "silent"])
def test_a_refused_recipient_in_message_3_of_5_is_reported_as_before(
        make_smtp_server, settings, fail_silently):
    server = make_smtp_server(tls=None, refuse_rcpt={BAD: "550 5.1.1 No such user"})
    use(server)

    def run():
        to = lambda i: [f"k{i}@example.com"] + ([BAD] if i == 3 else [])  # noqa: E731
        return outcome(batch(5, to=to), fail_silently=fail_silently)

    pipelined, today = both_ways(settings, run)
    assert pipelined == today
    statuses = [status for _subject, status in today["statuses"]]
    if fail_silently:
        assert statuses == ["sent", "sent", "partial", "sent", "sent"]
    else:
        assert today["raised"] == "RecipientsRefused"
        assert statuses == ["sent", "sent", "partial", "failed", "failed"]
    assert BAD in today["rows"][2][2]


@pytest.mark.parametrize("fail_silently", [False, True], ids=["raising", "silent"])
def test_a_554_at_the_end_of_message_2_fails_only_message_2(make_smtp_server, settings,
                                                            fail_silently):
    server = make_smtp_server(tls=None, handler=RefuseMarkedHandler())
    use(server)

    def run():
        messages = batch(4)
        messages[1].subject = "Faktura odrzuć"
        return outcome(messages, fail_silently=fail_silently)

    pipelined, today = both_ways(settings, run)
    assert pipelined == today
    statuses = [status for _subject, status in today["statuses"]]
    if fail_silently:
        assert statuses == ["sent", "failed", "sent", "sent"]
        assert today["sent"] == 3
    else:
        assert today["raised"] == "MessageRefused"
        assert statuses == ["sent", "failed", "failed", "failed"]  # 3 and 4: not attempted
    # Nothing after a refused message went out when the call raised (its 354 was cut off).
    subjects = [m.message["Subject"] for m in server.messages]
    assert subjects.count("Faktura 1") == 2
    assert subjects.count("Faktura 3") == (2 if fail_silently else 0)


@pytest.mark.parametrize("fail_silently", [False, True], ids=["raising", "silent"])
def test_a_connection_lost_after_message_4s_final_dot_never_sends_it_again(
        make_smtp_server, settings, fail_silently):
    server = make_smtp_server(tls=None, handler=VanishAtHandler(4),
                              smtp_class=CountingSMTP)
    server.handler.forget_start_check()
    use(server)
    result = outcome(batch(5), fail_silently=fail_silently)
    statuses = [status for _subject, status in result["statuses"]]
    handler = server.handler
    ids = handler.message_ids()
    assert set(ids.values()) == {1}  # nothing twice
    assert handler.data_attempts == (5 if fail_silently else 4)  # message 4 went once
    assert "Faktura 4" not in [m.message["Subject"] for m in handler.messages]
    if fail_silently:
        # Message 5's content never left with the lost session: sent once on a new one.
        # Message 4 went whole and its reply never came: unknown, not failed, never resent.
        assert statuses == ["sent", "sent", "sent", "unknown", "sent"]
        assert handler.connections == 2
    else:
        assert result["raised"] == "SMTPServerDisconnected"
        assert statuses == ["sent", "sent", "sent", "unknown", "failed"]
        assert "Not attempted" in result["rows"][4][3]
    assert [row[1] for row in result["rows"]] == statuses
    assert result["post_send"] == [(s, st, []) for s, st in result["statuses"]]


def test_no_pipelining_offered_gives_the_same_outcomes(make_smtp_server, settings):
    server = make_smtp_server(tls=None, pipelining=False,
                              refuse_rcpt={BAD: "550 5.1.1 No such user"})
    use(server)

    def run():
        return outcome(batch(3, to=lambda i: [f"k{i}@example.com", BAD]), fail_silently=True)

    pipelined, today = both_ways(settings, run)
    assert pipelined == today
    assert [status for _s, status in today["statuses"]] == ["partial"] * 3


@pytest.mark.parametrize("fail_silently", [False, True], ids=["raising", "silent"])
def test_a_held_reply_that_trickles_times_out_within_t_as_before(
        make_smtp_server, settings, fail_silently):
    timeout_s = 0.5

    def run():
        # A new server each run: it trickles the reply to the first content it gets.
        server = make_smtp_server(tls=None, smtp_class=trickling_smtp_class("data"))
        configure("127.0.0.1", server.port, server, security="none", username="",
                  password="", timeout_ms=int(timeout_s * 1000))
        started = time.monotonic()
        result = outcome(batch(3), fail_silently=fail_silently)
        assert time.monotonic() - started < timeout_s + 2.0  # one T, and a loaded machine
        subjects = [m.message["Subject"] for m in server.messages]
        assert subjects.count("Faktura 1") <= 1  # never resent
        return result

    pipelined, today = both_ways(settings, run)
    assert pipelined == today
    statuses = [status for _subject, status in today["statuses"]]
    # Message 1 went whole and its reply timed out: unknown (the server may have it).
    if fail_silently:
        assert statuses == ["unknown", "sent", "sent"]
    else:
        assert today["raised"] == "ServerTimeout"
        assert statuses == ["unknown", "failed", "failed"]
    assert today["rows"][0][3].startswith("The connection was lost after")


@pytest.mark.parametrize("fail_silently", [False, True], ids=["raising", "silent"])
def test_messages_of_two_configurations_interleaved_keep_their_order_and_outcomes(
        make_smtp_server, settings, fail_silently):
    firm, anna_server = make_smtp_server(tls=None), make_smtp_server(
        tls=None, handler=RefuseMarkedHandler())
    use(firm)
    anna = User.objects.create_user("anna", password="x")
    UserMailConfig.objects.create(user=anna, scope="individual", **config_values(
        anna_server, security="none", username="", password="",
        sender_email="anna@firma.example"))

    def run():
        messages = batch(6)
        for message in messages[2:5:2]:  # 3 and 5 go through Anna's server; 3 is refused
            message.user = anna
        messages[2].subject = "Faktura odrzuć"
        return outcome(messages, fail_silently=fail_silently)

    pipelined, today = both_ways(settings, run)
    assert pipelined == today
    statuses = [status for _subject, status in today["statuses"]]
    if fail_silently:
        assert statuses == ["sent", "sent", "failed", "sent", "sent", "sent"]
    else:
        assert today["raised"] == "MessageRefused"
        assert statuses == ["sent", "sent", "failed", "failed", "failed", "failed"]
    assert [subject for subject, _s, _r in today["post_send"]] == [
        subject for subject, _status in today["statuses"]]
