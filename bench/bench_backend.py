"""Throughput of ConfiguredEmailBackend vs Django's stock SMTP backend, same sink, same run.

    .venv/bin/python bench/bench_backend.py [--messages 2000] [--rounds 4]

Both send the same messages (macros in the subject, a default CC, DSN
requested; the stock backend gets them pre-filled, with the CC written in) to
one loopback SMTP sink, one connection per round, rounds alternating; bare
smtplib sending the same messages as bytes built beforehand is the upper
bound. It prints messages/second of each, the ratios, and how many database
queries ours made per message (configuration and log). Not a timed test.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def setup_django(db_path):
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "symfonia_mail"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db_path}},
        FIELD_ENCRYPTION_KEY="1kBzrjKphtTwXxtuYXvg43JijZhjSwMQjyEq-Pq_zzY=",
        EMAIL_BACKEND="symfonia_mail.backends.ConfiguredEmailBackend",
        USE_TZ=True, LANGUAGE_CODE="pl", DEFAULT_FROM_EMAIL="webmaster@localhost",
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def messages_for(count, ours):
    from django.core.mail import EmailMessage

    body = ("Dzień dobry,\n\nprzypominamy o płatności za fakturę {numer}.\n" * 20)
    result = []
    for i in range(count):
        number = f"FV/{i}/2026"
        if ours:
            msg = EmailMessage("Faktura {numer} — {kontrahent}", body, to=[f"k{i}@example.com"])
            msg.macros = {"numer": number, "kontrahent": "ACME sp. z o.o."}
        else:
            msg = EmailMessage(
                f"Faktura {number} — ACME sp. z o.o.", body.replace("{numer}", number),
                "Biuro <biuro@firma.example>", to=[f"k{i}@example.com"],
                cc=["kopia@firma.example"],
            )
        result.append(msg)
    return result


def raw_smtplib_round(port, messages):
    """Send *messages* with bare smtplib from bytes built beforehand (an upper bound)."""
    import smtplib

    prepared = [(m.from_email, m.recipients(), m.message().as_bytes()) for m in messages]
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        for sender, recipients, data in prepared:
            client.sendmail(sender, recipients, data)
    return len(messages) / (time.perf_counter() - started)


CPU = []  # (label, CPU seconds per message) of each round


def run_round(backend, messages, label=None):
    started, cpu = time.perf_counter(), time.process_time()
    sent = backend.send_messages(messages)
    elapsed = time.perf_counter() - started
    assert sent == len(messages), (sent, len(messages))
    if label:
        CPU.append((label, (time.process_time() - cpu) / len(messages)))
    return len(messages) / elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    from smtp_sink import start_sink

    sink, port = start_sink()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(str(Path(tmp) / "bench.sqlite3"))
        from django.core.mail.backends.smtp import EmailBackend
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from symfonia_mail.backends import ConfiguredEmailBackend
        from symfonia_mail.models import GlobalMailConfig

        config = GlobalMailConfig.get_solo()
        config.host, config.port, config.security = "127.0.0.1", port, "none"
        config.sender_email, config.sender_name = "biuro@firma.example", "Biuro"
        config.cc, config.dsn_notify, config.timeout_ms = "kopia@firma.example", "OnFailure", 10_000
        config.save()

        per_round = max(1, args.messages // args.rounds)
        stock_rates, our_rates, raw_rates, queries = [], [], [], 0
        # Warm-up: imports, DNS_NAME, first configuration load.
        run_round(EmailBackend(host="127.0.0.1", port=port), messages_for(20, ours=False))
        run_round(ConfiguredEmailBackend(), messages_for(20, ours=True))
        for _ in range(args.rounds):
            stock_rates.append(run_round(EmailBackend(host="127.0.0.1", port=port, timeout=10),
                                         messages_for(per_round, ours=False), "stock"))
            with CaptureQueriesContext(connection) as captured:
                our_rates.append(run_round(ConfiguredEmailBackend(),
                                           messages_for(per_round, ours=True), "ours"))
            queries += len(captured.captured_queries)
            raw_rates.append(raw_smtplib_round(port, messages_for(per_round, ours=False)))
            config_queries = [q for q in captured.captured_queries
                              if "mailconfig" in q["sql"].lower()]
            assert not config_queries, "configuration queried again with a warm cache"
    sink.terminate()

    stock, ours = statistics.median(stock_rates), statistics.median(our_rates)
    raw = statistics.median(raw_rates)
    total = per_round * args.rounds
    print(f"messages per backend: {total} in {args.rounds} alternating rounds of {per_round}")
    print(f"Django stock SMTP backend : {stock:8.0f} msgs/s (median of rounds)")
    print(f"ConfiguredEmailBackend    : {ours:8.0f} msgs/s (median of rounds)")
    print(f"raw smtplib, bytes prebuilt: {raw:7.0f} msgs/s (median of rounds; no building)")
    print(f"ratio ours/stock          : {ours / stock:8.2f}")
    print(f"ratio ours/raw smtplib    : {ours / raw:8.2f}")
    cpu = {label: statistics.median(c for name, c in CPU if name == label) * 1000
           for label in ("stock", "ours")}
    print(f"CPU per message           : stock {cpu['stock']:.3f} ms, ours {cpu['ours']:.3f} ms "
          f"(ratio {cpu['ours'] / cpu['stock']:.2f}; building counted in both)")
    print(f"queries per message (ours): {queries / total:8.4f} "
          f"(configuration: 0; per round: 1 freshness check + bulk log inserts)")


if __name__ == "__main__":
    main()
