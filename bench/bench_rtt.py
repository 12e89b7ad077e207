"""200 messages at 20 ms round-trip time: ours (PIPELINING) vs Django's stock backend.

    .venv/bin/python bench/bench_rtt.py [--messages 200] [--rtt-ms 20] [--rounds 2]
    .venv/bin/python bench/bench_rtt.py --single [--messages 200] [--keep-alive 30]

This kernel has no netem qdisc (docs/architecture.md), so the delay is modelled in user
space: a proxy in its own process holds every chunk the client writes for one
RTT before passing it to the loopback sink (which advertises PIPELINING and
DSN). A client that waits for each reply pays one RTT per command; a
pipelining client one per group (MAIL + RCPT×n + DATA); in a batch each message's
content goes with the next message's group, so about one per message. Each
message has four recipients (To, Cc, Bcc and the configuration's default CC;
the stock backend gets the same four). Rounds alternate between the two
backends; the median rate of each is reported.

``--single``: the messages go as single ``send_mail`` calls, one after another (a web
application's way): Django opens a session per call, ours keeps it between calls
(``KEEP_ALIVE``). The SMTP sessions each opened are counted by the sink.
"""

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _proxy(target_port, delay, queue):
    from tests.smtpd_faults import DelayProxy

    proxy = DelayProxy(target_port, delay)
    queue.put(proxy.port)
    proxy.thread.join()


def start_proxy(target_port, delay):
    """Start the delaying proxy in a child process; return (process, port)."""
    queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=_proxy, args=(target_port, delay, queue),
                                      daemon=True)
    process.start()
    return process, queue.get(timeout=10)


def messages_for(count, ours):
    from django.core.mail import EmailMessage

    body = "Dzień dobry,\n\nprzypominamy o płatności za fakturę {numer}.\n" * 20
    result = []
    for i in range(count):
        number = f"FV/{i}/2026"
        common = {"to": [f"k{i}@example.com"], "cc": [f"ksiegowosc{i}@example.com"],
                  "bcc": ["archiwum@firma.example"]}
        if ours:
            msg = EmailMessage("Faktura {numer}", body, **common)
            msg.macros = {"numer": number}
        else:
            common["cc"].append("kopia@firma.example")
            msg = EmailMessage(f"Faktura {number}", body.replace("{numer}", number),
                               "Biuro <biuro@firma.example>", **common)
        result.append(msg)
    return result


def timed(backend, messages):
    from symfonia_mail import wait_for_log

    started = time.perf_counter()
    sent = backend.send_messages(messages)
    assert wait_for_log()  # ours: until every MailLog row is in the database (timed too)
    elapsed = time.perf_counter() - started
    assert sent == len(messages), (sent, len(messages))
    return elapsed


def timed_singly(make_backend, messages):
    """Send each message with its own backend (its own send_mail call); return seconds."""
    from symfonia_mail import wait_for_log

    started = time.perf_counter()
    for message in messages:
        assert make_backend().send_messages([message]) == 1
    assert wait_for_log()  # ours: until every MailLog row is in the database (timed too)
    return time.perf_counter() - started


def counted(sink, run):
    """Return (seconds, SMTP sessions the sink accepted) of *run*()."""
    from smtp_sink import reset_counters

    from symfonia_mail.smtp import pool as smtp_pool

    smtp_pool.close_all()  # a round pays its own opening
    reset_counters(sink)
    return run(), sink.counters["total"].value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--single", action="store_true",
                        help="single send_mail calls instead of one batch")
    parser.add_argument("--keep-alive", type=float, default=30,
                        help='SYMFONIA_MAIL["KEEP_ALIVE"] for ours (0: a session per call)')
    args = parser.parse_args()

    from benchlib import setup_django
    from smtp_sink import start_sink

    sink, sink_port = start_sink()
    proxy, port = start_proxy(sink_port, args.rtt_ms / 1000)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            setup_django(str(Path(tmp) / "bench.sqlite3"),
                         symfonia_mail={"KEEP_ALIVE": args.keep_alive})
            from django.core.mail.backends.smtp import EmailBackend

            from symfonia_mail.backends.configured import ConfiguredEmailBackend
            from symfonia_mail.models import GlobalMailConfig

            config = GlobalMailConfig.get_solo()
            config.host, config.port, config.security = "127.0.0.1", port, "none"
            config.sender_email, config.sender_name = "biuro@firma.example", "Biuro"
            config.cc, config.dsn_notify = "kopia@firma.example", "OnFailure"
            config.timeout_ms = 10_000
            config.save()

            timed(ConfiguredEmailBackend(), messages_for(2, ours=True))  # warm-up
            stock, ours, sessions = [], [], {"stock": 0, "ours": 0}

            def django_backend():
                return EmailBackend(host="127.0.0.1", port=port, timeout=10)

            send = timed_singly if args.single else (lambda make, msgs: timed(make(), msgs))
            for _ in range(args.rounds):
                seconds, sessions["stock"] = counted(sink, lambda: send(
                    django_backend, messages_for(args.messages, ours=False)))
                stock.append(seconds)
                seconds, sessions["ours"] = counted(sink, lambda: send(
                    ConfiguredEmailBackend, messages_for(args.messages, ours=True)))
                ours.append(seconds)
    finally:
        proxy.terminate()
        sink.terminate()

    rtt = args.rtt_ms / 1000
    stock_s, ours_s = statistics.median(stock), statistics.median(ours)
    n = args.messages
    how = "single send_mail calls" if args.single else "messages in one call"
    print(f"{n} {how}, 4 recipients each, {args.rtt_ms:g} ms RTT (user-space proxy), "
          f"median of {args.rounds} alternating rounds, KEEP_ALIVE {args.keep_alive:g}")
    print(f"Django stock SMTP backend : {n / stock_s:7.1f} msgs/s, {stock_s / n * 1000:6.1f} "
          f"ms/msg, {stock_s / n / rtt:4.1f} round trips/msg")
    print(f"ConfiguredEmailBackend    : {n / ours_s:7.1f} msgs/s, {ours_s / n * 1000:6.1f} "
          f"ms/msg, {ours_s / n / rtt:4.1f} round trips/msg (PIPELINING)")
    print(f"ratio ours/stock          : {stock_s / ours_s:7.2f}x faster "
          f"(time ours/stock {ours_s / stock_s:.2f})")
    print(f"SMTP sessions opened      : stock {sessions['stock']}, ours {sessions['ours']}")


if __name__ == "__main__":
    main()
