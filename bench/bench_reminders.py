"""Payment reminders at scale: 1,000 contractors x 2 invoice PDFs (~100 KB each).

    .venv/bin/python bench/bench_reminders.py [--contractors 1000] [--tracemalloc]

``symfonia_mail.reminders.send_reminders`` runs twice, each time in a fresh
process with a fresh SQLite file: once with an attachment password (every
PDF encrypted, AES-256) and once without. Messages go to an aiosmtpd sink on
127.0.0.1 running in its own process (so its work does not share the GIL
with the sender), which counts them and keeps the first one so this script
can check its PDFs really are encrypted. Reported: messages/second, MB/s
sent, peak RSS of the sending process (``resource.getrusage``) and, with
``--tracemalloc``, the peak of Python allocations (tracemalloc slows the run,
so its time is not comparable). Not a timed test: a measurement.

The two PDFs are rendered once by the example project's fpdf2 invoice
renderer (with enough specification lines to weigh ~100 KB) and shared by all
contractors: PDF rendering is the host's cost, not the mail path's.
"""

import argparse
import io
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "example_project")]

from benchlib import serve_in_child  # noqa: E402

PASSWORD = "Bench-Hasło-2026"


# --- the sink (its own process) -------------------------------------------------

class _SinkHandler:
    def __init__(self, counter, first_path):
        self.counter = counter
        self.first_path = first_path

    async def handle_DATA(self, server, session, envelope):
        with self.counter.get_lock():
            self.counter.value += 1
            first = self.counter.value == 1
        if first:
            Path(self.first_path).write_bytes(envelope.original_content or envelope.content)
        return "250 2.0.0 queued"


def _serve(port, ready, counter, first_path):
    from aiosmtpd.controller import Controller

    controller = Controller(_SinkHandler(counter, first_path), hostname="127.0.0.1", port=port,
                            data_size_limit=50 * 1024 * 1024)
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def start_sink(first_path):
    counter = multiprocessing.Value("i", 0)
    process, port = serve_in_child(_serve, counter, first_path, timeout=15,
                                   what="the aiosmtpd sink")
    return process, port, counter


# --- one measured run (a child process) ----------------------------------------

def setup_django(db_path):
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "symfonia_mail",
                        "sales"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db_path}},
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                    "APP_DIRS": True}],
        FIELD_ENCRYPTION_KEY="1kBzrjKphtTwXxtuYXvg43JijZhjSwMQjyEq-Pq_zzY=",
        EMAIL_BACKEND="symfonia_mail.backends.ConfiguredEmailBackend",
        USE_TZ=True, TIME_ZONE="Europe/Warsaw", LANGUAGE_CODE="pl", USE_I18N=True,
        DEFAULT_FROM_EMAIL="webmaster@localhost",
        LOGGING={"version": 1, "loggers": {"symfonia_mail": {"level": "WARNING"}}},
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def invoice_pdfs(target=100_000):
    """Return two invoice PDFs of about *target* bytes each (fpdf2, DejaVu Sans)."""
    import datetime
    from decimal import Decimal

    from sales.models import Company, Contractor, Invoice
    from sales.pdf import render_invoice_pdf

    company = Company(name="Firma Bench sp. z o.o.", tax_id="5213000000",
                      address="ul. Świętokrzyska 11\n00-950 Warszawa")
    buyer = Contractor(name="Kontrahent „Żuraw” sp. z o.o.", address="ul. Łąkowa 3\n90-001 Łódź")
    pdfs = []
    for number in ("FV/1/2026", "FV/2/2026"):
        invoice = Invoice(contractor=buyer, number=number, amount=Decimal("1230.00"),
                          paid_amount=Decimal("0"), issue_date=datetime.date(2026, 9, 1),
                          due_date=datetime.date(2026, 9, 15))
        lines = 1200  # ≈ 80 bytes per specification line once compressed
        pdfs.append(render_invoice_pdf(invoice, company, extra_lines=lines))
    return pdfs


def measured_run(args):
    import datetime

    setup_django(args.db)
    from symfonia_mail.models import GlobalMailConfig
    from symfonia_mail.reminders import (
        ContractorReminder,
        OverdueDocument,
        count,
        send_reminders,
    )

    config = GlobalMailConfig.get_solo()
    config.transport, config.host, config.port, config.security = (
        "smtp", "127.0.0.1", args.port, "none")
    config.sender_email, config.sender_name = "biuro@firma.example", "Biuro"
    config.company_name = "Firma Bench sp. z o.o."
    config.attachment_password = PASSWORD if args.mode == "protected" else ""
    config.save()

    pdf_a, pdf_b = invoice_pdfs()
    as_of = datetime.date(2026, 11, 26)
    reminders = [
        ContractorReminder(
            name=f"Kontrahent nr {i} sp. z o.o.", emails=[f"k{i}@kontrahent.example"],
            key=f"bench:{i}", documents=[
                OverdueDocument(f"FV/{2 * i + 1}/2026", datetime.date(2026, 9, 1),
                                datetime.date(2026, 9, 15), amount=1230, currency="PLN",
                                pdf=pdf_a),
                OverdueDocument(f"FV/{2 * i + 2}/2026", datetime.date(2026, 9, 10),
                                datetime.date(2026, 9, 24), amount=615, outstanding=300,
                                currency="PLN", pdf=pdf_b),
            ])
        for i in range(args.contractors)
    ]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start()
    start = time.perf_counter()
    results = send_reminders(reminders, as_of=as_of)
    seconds = time.perf_counter() - start
    traced_peak = 0
    if args.tracemalloc:
        import tracemalloc

        traced_peak = tracemalloc.get_traced_memory()[1]
    counts = count(results)
    print(json.dumps({
        "mode": args.mode, "contractors": args.contractors,
        "sent": counts["sent"], "failed": counts["failed"], "seconds": seconds,
        "pdf_bytes": [len(pdf_a), len(pdf_b)],
        "rss_before_mib": rss_before / 1024,
        "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "traced_peak_mib": traced_peak / 2**20,
        "reasons": sorted({r.reason for r in results if r.reason})[:3],
    }))


# --- the driver -----------------------------------------------------------------

def check_first_message(path, protected):
    """Return a note saying whether the first received message's PDFs are encrypted."""
    from email import message_from_bytes, policy

    import pikepdf

    message = message_from_bytes(Path(path).read_bytes(), policy=policy.default)
    verdicts = []
    for part in message.iter_attachments():
        try:
            pikepdf.open(io.BytesIO(part.get_content())).close()
            verdicts.append(False)
        except pikepdf.PasswordError:
            verdicts.append(True)
    if not verdicts:
        return "no attachments!"
    ok = all(verdicts) if protected else not any(verdicts)
    state = "encrypted" if all(verdicts) else "plain" if not any(verdicts) else "mixed"
    return f"{len(verdicts)} PDFs {state}" + ("" if ok else "  <-- UNEXPECTED")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contractors", type=int, default=1000)
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also measure the peak of Python allocations (slower run)")
    parser.add_argument("--db-dir", help="folder for the SQLite files (default: a temporary "
                        "folder; /dev/shm takes the disk's commit latency out)")
    parser.add_argument("--child", dest="mode", choices=["protected", "plain"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        measured_run(args)
        return

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db_dir = tempfile.mkdtemp(dir=args.db_dir) if args.db_dir else tmp
        for mode in ("protected", "plain"):
            first = os.path.join(tmp, f"first-{mode}.eml")
            sink, port, counter = start_sink(first)
            try:
                command = [sys.executable, __file__, "--child", mode, "--port", str(port),
                           "--db", os.path.join(db_dir, f"bench-reminders-{mode}.sqlite3"),
                           "--contractors", str(args.contractors)]
                if args.tracemalloc:
                    command.append("--tracemalloc")
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode:
                    sys.exit(f"{mode} run failed:\n{done.stderr}")
                row = json.loads(done.stdout.strip().splitlines()[-1])
                row["received"] = counter.value
                row["check"] = check_first_message(first, mode == "protected")
                rows.append(row)
            finally:
                sink.terminate()
                sink.join()
        if args.db_dir:
            shutil.rmtree(db_dir)

    print(f"Payment reminders: {args.contractors} contractors x 2 invoice PDFs "
          f"({rows[0]['pdf_bytes'][0] / 1000:.0f} KB and {rows[0]['pdf_bytes'][1] / 1000:.0f} KB)"
          f", one connection, aiosmtpd sink on 127.0.0.1, SQLite in {args.db_dir or 'a temp dir'}")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    header = f"{'mode':<10} {'sent':>5} {'failed':>6} {'recv':>5} {'seconds':>8} " \
             f"{'msg/s':>7} {'RSS before':>11} {'RSS peak':>9}"
    if args.tracemalloc:
        header += f" {'py peak':>8}"
    print(header + "  first message")
    for row in rows:
        line = (f"{row['mode']:<10} {row['sent']:>5} {row['failed']:>6} {row['received']:>5} "
                f"{row['seconds']:>8.1f} {row['sent'] / row['seconds']:>7.1f} "
                f"{row['rss_before_mib']:>8.0f} MiB {row['rss_peak_mib']:>5.0f} MiB")
        if args.tracemalloc:
            line += f" {row['traced_peak_mib']:>4.0f} MiB"
        print(line + f"  {row['check']}")
        if row["reasons"]:
            print(f"           reasons: {row['reasons']}")


if __name__ == "__main__":
    main()
