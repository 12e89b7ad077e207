"""200 messages at 20 ms round-trip time: ours (PIPELINING) vs Django's stock backend.

    .venv/bin/python bench/bench_rtt.py [--messages 200] [--rtt-ms 20] [--rounds 2]

This kernel has no netem qdisc (docs/architecture.md), so the delay is modelled in user
space: a proxy in its own process holds every chunk the client writes for one
RTT before passing it to the loopback sink (which advertises PIPELINING and
DSN). A client that waits for each reply pays one RTT per command; a
pipelining client one per group (MAIL + RCPT×n + DATA), plus one for the
message content. Each message has four recipients (To, Cc, Bcc and the
configuration's default CC; the stock backend gets the same four). Rounds
alternate between the two backends; the median rate of each is reported.
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
    started = time.perf_counter()
    sent = backend.send_messages(messages)
    elapsed = time.perf_counter() - started
    assert sent == len(messages), (sent, len(messages))
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from bench_backend import setup_django
    from smtp_sink import start_sink

    sink, sink_port = start_sink()
    proxy, port = start_proxy(sink_port, args.rtt_ms / 1000)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            setup_django(str(Path(tmp) / "bench.sqlite3"))
            from django.core.mail.backends.smtp import EmailBackend

            from symfonia_mail.backends import ConfiguredEmailBackend
            from symfonia_mail.models import GlobalMailConfig

            config = GlobalMailConfig.get_solo()
            config.host, config.port, config.security = "127.0.0.1", port, "none"
            config.sender_email, config.sender_name = "biuro@firma.example", "Biuro"
            config.cc, config.dsn_notify = "kopia@firma.example", "OnFailure"
            config.timeout_ms = 10_000
            config.save()

            timed(ConfiguredEmailBackend(), messages_for(2, ours=True))  # warm-up
            stock, ours = [], []
            for _ in range(args.rounds):
                stock.append(timed(EmailBackend(host="127.0.0.1", port=port, timeout=10),
                                   messages_for(args.messages, ours=False)))
                ours.append(timed(ConfiguredEmailBackend(),
                                  messages_for(args.messages, ours=True)))
    finally:
        proxy.terminate()
        sink.terminate()

    rtt = args.rtt_ms / 1000
    stock_s, ours_s = statistics.median(stock), statistics.median(ours)
    n = args.messages
    print(f"{n} messages, 4 recipients each, {args.rtt_ms:g} ms RTT (user-space proxy), "
          f"median of {args.rounds} alternating rounds")
    print(f"Django stock SMTP backend : {n / stock_s:7.1f} msgs/s, {stock_s / n * 1000:6.1f} "
          f"ms/msg, {stock_s / n / rtt:4.1f} round trips/msg")
    print(f"ConfiguredEmailBackend    : {n / ours_s:7.1f} msgs/s, {ours_s / n * 1000:6.1f} "
          f"ms/msg, {ours_s / n / rtt:4.1f} round trips/msg (PIPELINING)")
    print(f"ratio ours/stock          : {stock_s / ours_s:7.2f}x  (target >= 3)")


if __name__ == "__main__":
    main()
