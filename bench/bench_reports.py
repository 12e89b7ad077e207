"""Reading delivery reports: parse_report per report, apply_report per report, in one run.

    .venv/bin/python bench/bench_reports.py [--reports 10000] [--rows 100000]

A SQLite file gets *rows* MailLog rows (each with an envelope id and a
Message-ID). Then: parse_report over flufl.bounce's 116 real-world samples
(tests/data/bounces; median per report), and apply_report over *reports* DSNs
(a third matched by envelope id, a third by the returned Message-ID only, a
third about no message of ours), timed as one run, with the queries per report;
then the peak memory of applying them all again (nothing new). Not a timed test: a measurement.
"""

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, setup_django  # noqa: E402


def populate(rows):
    from symfonia_mail.models import MailLog

    logs = [MailLog(status="sent", scope="global", transport="smtp", subject=f"Faktura {n}",
                    recipients=f"k{n}@kontrahent.example", envelope_id=uuid.uuid4().hex,
                    message_id=f"<bench-{n}@firma.example>") for n in range(rows)]
    MailLog.objects.bulk_create(logs, batch_size=2000)
    return list(MailLog.objects.values_list("envelope_id", "message_id", "recipients")
                .order_by("?")[:rows])


def corpus_ms():
    from symfonia_mail.reports import parse_report

    samples = [path.read_bytes() for path in sorted((ROOT / "tests/data/bounces").glob("*.txt"))]
    times = []
    for data in samples:
        began = time.perf_counter()
        parse_report(data)
        times.append((time.perf_counter() - began) * 1000)
    return len(samples), statistics.median(times), max(times)


def reports(targets, count):
    from tests.reports_samples import dsn

    made = []
    for n in range(count):
        envelope_id, message_id, recipient = targets[n % len(targets)]
        if n % 3 == 0:
            made.append(dsn(envelope_id, [(recipient, "failed", "5.1.1")]))
        elif n % 3 == 1:
            made.append(dsn("", [(recipient, "delivered", "2.0.0")], message_id=message_id))
        else:
            made.append(dsn(uuid.uuid4().hex, message_id="<not-ours@elsewhere.example>"))
    return made


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        setup_django(str(Path(folder) / "bench.sqlite3"), wal=True)
        from django.db import connection

        from symfonia_mail.models import DeliveryEvent
        from symfonia_mail.reports import apply_report

        targets = populate(args.rows)
        samples, median, worst = corpus_ms()
        print(f"parse_report, {samples} real-world samples: median {median:.2f} ms, "
              f"worst {worst:.2f} ms")
        batch = reports(targets, args.reports)
        count = [0]

        def counting(execute, sql, params, many, context):
            count[0] += 1
            return execute(sql, params, many, context)

        began = time.perf_counter()
        with connection.execute_wrapper(counting):
            matched = sum(apply_report(data) is not None for data in batch)
        elapsed = time.perf_counter() - began
        print(f"apply_report, {args.reports} reports on {args.rows} MailLog rows: "
              f"{elapsed:.2f} s ({elapsed / args.reports * 1000:.2f} ms/report), "
              f"{count[0] / args.reports:.1f} queries/report; matched {matched}, "
              f"events {DeliveryEvent.objects.count()}")
        # Memory in a second pass (tracemalloc slows Python down): the same reports again,
        # which now record nothing new.
        tracemalloc.start()
        for data in batch:
            apply_report(data)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"peak memory of a run of {args.reports} reports: {peak / 2**20:.1f} MiB "
              f"(tracemalloc), events still {DeliveryEvent.objects.count()}")

if __name__ == "__main__":
    main()
