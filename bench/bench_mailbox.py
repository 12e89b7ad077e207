"""Delivery reports read over IMAP at scale, and what the Sent copy adds to a send.

    .venv/bin/python bench/bench_mailbox.py [--reports 10000] [--others 1000] [--sends 20]

Needs root (a private Dovecot from tests/dovecot.py on 127.0.0.1, STARTTLS with a
trustme certificate trusted through the configuration's CA list).

1. Fetch: --reports MailLog rows, each with a bounce (an RFC 3464 report naming its
   envelope id) in the mailbox, plus --others ordinary messages, written straight into
   the Maildir Dovecot serves. One ``fetch_all()`` run with a batch large enough for
   all of them. Reported: wall time, reports/s, SQL queries per report, the peak
   resident memory the run added, messages whose body was downloaded. Checked: every
   row is ``bounced`` with one event, the others were never downloaded; a second run
   records nothing.
2. Sent copy: --sends single ``send_mail`` calls to a loopback SMTP sink with
   ``sent_copy = never`` and then ``always`` (one IMAP login + APPEND per call), and
   one ``send_mass_mail`` of --sends messages (one IMAP session for the batch).
   Reported: median ms per call and the difference.
Not a timed test: a measurement.
"""

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from benchlib import median_ms, setup_django  # noqa: E402
from smtp_sink import start_sink  # noqa: E402

MAIL_UID = 65534


def report_bytes(envelope_id, recipient, message_id):
    return (
        "From: MAILER-DAEMON@mta.example\r\nTo: nadawca@dsn.test\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{uuid.uuid4().hex}@m>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; '
        'boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n'
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mta.example\r\nOriginal-Envelope-Id: {envelope_id}\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 No such user\r\n"
        f"\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {message_id}\r\n"
        "Subject: Faktura\r\n\r\n--b--\r\n").encode()


def other_bytes(number):
    return (f"From: kontrahent{number}@example.com\r\nTo: nadawca@dsn.test\r\n"
            f"Subject: Pytanie {number}\r\nMessage-ID: <{uuid.uuid4().hex}@k>\r\n\r\n"
            + "Treść zwykłej wiadomości.\r\n" * 40).encode()


def write_maildir(folder, messages):
    """Write *messages* (bytes) as new mail into the Maildir *folder*, owned by nobody."""
    for name in ("cur", "new", "tmp"):
        (folder / name).mkdir(parents=True, exist_ok=True)
        os.chown(folder / name, MAIL_UID, MAIL_UID)
    for parent in (folder, folder.parent):
        os.chown(parent, MAIL_UID, MAIL_UID)
    for number, data in enumerate(messages):
        path = folder / "new" / f"{time.time_ns()}.{number}.bench"
        path.write_bytes(data)
        os.chown(path, MAIL_UID, MAIL_UID)


class QueryCounter:
    """Count SQL statements without keeping them (an execute wrapper)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def configure(dovecot, ca_pem, address, sink_port, sent_copy="never"):
    from symfonia_mail.models import GlobalMailConfig

    config = GlobalMailConfig.get_solo()
    for name, value in {
        "transport": "smtp", "host": "127.0.0.1", "port": sink_port, "security": "none",
        "timeout_ms": 30000, "sender_email": address, "imap_host": dovecot.host,
        "imap_port": dovecot.port, "imap_security": "starttls", "imap_username": address,
        "imap_password": dovecot.users[address], "ca_certificates": ca_pem,
        "sent_copy": sent_copy,
    }.items():
        setattr(config, name, value)
    config.save()


def bench_fetch(args, dovecot, address):
    from django.db import connection

    from symfonia_mail.models import DeliveryEvent, MailLog
    from symfonia_mail.reports import fetching

    rows = [MailLog(status="sent", scope="global", transport="smtp",
                    recipients=f"r{n}@firma.example", envelope_id=uuid.uuid4().hex,
                    message_id=f"<{uuid.uuid4().hex}@firma>") for n in range(args.reports)]
    MailLog.objects.bulk_create(rows, batch_size=500)
    local = address.partition("@")[0]
    folder = dovecot.mail / "dsn.test" / local
    write_maildir(folder, (report_bytes(row.envelope_id, row.recipients, row.message_id)
                           for row in rows))
    write_maildir(folder, (other_bytes(n) for n in range(args.others)))
    total = args.reports + args.others
    counter = QueryCounter()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        [result] = fetching.fetch_all(batch=total)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    bounced = MailLog.objects.filter(delivery="bounced").count()
    events = DeliveryEvent.objects.count()
    assert (result.looked, result.downloaded, result.reports) == (total, args.reports,
                                                                    args.reports), result
    assert bounced == args.reports and events == args.reports, (bounced, events)
    [again] = fetching.fetch_all(batch=total)
    assert again.looked == 0 and DeliveryEvent.objects.count() == events
    print(f"fetch: {args.reports} reports + {args.others} other messages in {seconds:.2f} s "
          f"({args.reports / seconds:.0f} reports/s), {counter.count / args.reports:.2f} "
          f"queries per report, peak RSS +{peak / 1024:.1f} MiB, bodies downloaded: "
          f"{result.downloaded} of {total}")


def bench_sent_copy(args, dovecot, ca_pem, address, sink_port):
    from django.core import mail

    def one():
        mail.send_mail("Faktura", "Treść", None, ["kontrahent@example.com"])

    def batch():
        mail.send_mass_mail([("Faktura", "Treść", None, ["kontrahent@example.com"])] * args.sends)

    timings = {}
    for mode in ("never", "always"):
        configure(dovecot, ca_pem, address, sink_port, sent_copy=mode)
        one()  # warm: the configuration resolved, the trust store loaded
        timings[mode] = (median_ms(one, args.sends), median_ms(batch, 3))
    (never_one, never_batch), (always_one, always_batch) = timings["never"], timings["always"]
    print(f"sent copy, one send_mail: {never_one:.1f} ms without, {always_one:.1f} ms with "
          f"(+{always_one - never_one:.1f} ms: IMAP login, LIST, APPEND, LOGOUT)")
    print(f"sent copy, send_mass_mail of {args.sends}: {never_batch:.1f} ms without, "
          f"{always_batch:.1f} ms with (+{(always_batch - never_batch) / args.sends:.1f} ms "
          "per message, one IMAP session)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=10000)
    parser.add_argument("--others", type=int, default=1000)
    parser.add_argument("--sends", type=int, default=20)
    args = parser.parse_args()
    import trustme

    from tests.dovecot import start

    ca = trustme.CA()
    ca_pem = ca.cert_pem.bytes().decode()
    dovecot = start(ca.issue_cert("127.0.0.1"))
    sink, sink_port = start_sink()
    try:
        with tempfile.TemporaryDirectory() as folder:
            setup_django(str(Path(folder) / "bench.sqlite3"), wal=True)
            address, _password = dovecot.add_user()
            configure(dovecot, ca_pem, address, sink_port)
            bench_fetch(args, dovecot, address)
            bench_sent_copy(args, dovecot, ca_pem, dovecot.add_user()[0], sink_port)
    finally:
        sink.terminate()
        dovecot.stop()


if __name__ == "__main__":
    main()
