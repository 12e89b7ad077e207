"""Background sending at scale, on PostgreSQL with django-tasks-db ``db_worker`` processes.

    .venv/bin/python bench/bench_outbox.py [--messages 10000] [--workers 1,2,4]
        [--delay 0.01] [--contractors 10000] [--reminder-workers 2] [--chunk 50]

1. Outbox: --messages messages are queued with send_mail (BACKGROUND on) in one
   transaction, then sent by 1, 2 and 4 workers to a loopback sink that answers
   each SMTP command after --delay seconds. Reported: messages/s per worker count and
   the ratio to one worker; the enqueue cost per message against a synchronous send
   to the same sink.
2. Reminders: --contractors synthetic contractors with two overdue invoices each (the
   sales app renders two small PDFs per reminder), sent synchronously by the command,
   then (fresh data) with ``--background`` and --reminder-workers workers.

Proof of no duplicates: the sink records every Message-ID and recipient; each round
checks that every MailLog row is ``sent`` and each message and contractor arrived once.
Not a timed test: a measurement. PostgreSQL comes from Debian's package (tests/pg.py).
"""

import argparse
import json
import os
import signal
import socketserver
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from benchlib import serve_in_child  # noqa: E402
from smtp_sink import ThreadingServer  # noqa: E402

from tests.pg import PostgresServer  # noqa: E402

FINAL = ("sent", "partial", "failed", "unknown", "cancelled")


# --- a sink that answers each command after a delay (its own process) --------------

class _Session(socketserver.StreamRequestHandler):
    def reply(self, line):
        time.sleep(self.server.delay)
        self.wfile.write(line)

    def handle(self):
        os.write(self.server.log, b"+connection\n")
        self.reply(b"220 sink ESMTP\r\n")
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.reply(b"250-sink\r\n250-8BITMIME\r\n250-DSN\r\n250 HELP\r\n")
            elif verb == b"DATA":
                self.reply(b"354 go ahead\r\n")
                message_id = to = b""
                while True:
                    chunk = self.rfile.readline(1 << 20)
                    if chunk in (b".\r\n", b""):
                        break
                    lower = chunk[:12].lower()
                    if lower.startswith(b"message-id:"):
                        message_id = chunk[11:].strip()
                    elif lower.startswith(b"to:") and not to:
                        to = chunk[3:].strip()
                os.write(self.server.log, message_id + b"\t" + to + b"\n")  # O_APPEND: atomic
                self.reply(b"250 2.0.0 queued\r\n")
            elif verb == b"QUIT":
                self.reply(b"221 bye\r\n")
                return
            else:
                self.reply(b"250 OK\r\n")


def _serve(port, ready, delay, log_path):
    with ThreadingServer(("127.0.0.1", port), _Session) as server:
        server.delay = delay
        server.log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        ready.set()
        server.serve_forever()


def start_sink(delay, log_path):
    return serve_in_child(_serve, delay, log_path, what="sink")


def sink_log(path):
    """Return [(Message-ID, To)] the sink received."""
    lines = Path(path).read_bytes().splitlines()
    return [tuple(line.split(b"\t", 1)) for line in lines if line and b"\t" in line]


def sink_connections(path):
    return Path(path).read_bytes().count(b"+connection\n")


# --- the project on PostgreSQL ------------------------------------------------------

class Project:
    def __init__(self, postgres):
        self.postgres = postgres
        self.env = {**os.environ, **postgres.env(), "DJANGO_SETTINGS_MODULE": "tests.settings_pg",
                    "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'example_project'}"}
        import psycopg

        self.db = psycopg.connect(host=postgres.host, port=postgres.port, user=postgres.user,
                                  dbname=postgres.name, autocommit=True)

    def tool(self, *args):
        done = subprocess.run([sys.executable, "-m", "tests.pg_tool", *map(str, args)],
                              cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=7200, check=False)
        if done.returncode:
            raise RuntimeError(done.stderr)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def counts(self):
        rows = self.db.execute(
            "SELECT status, count(*) FROM symfonia_mail_maillog GROUP BY status").fetchall()
        return dict(rows)

    def reset(self):
        self.db.execute(
            "TRUNCATE symfonia_mail_outboxmessage, symfonia_mail_maillog, "
            "symfonia_mail_reminderrecord, symfonia_mail_reminderrun, sales_invoice, "
            "sales_contractor, django_tasks_database_dbtaskresult CASCADE")

    def workers(self, count):
        return [subprocess.Popen(
            [sys.executable, "-m", "django", "db_worker", "--interval", "0.05",
             "--no-startup-delay"], cwd=ROOT, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)]

    def wait(self, total, timeout):
        """Wait until *total* rows are final; return the seconds it took."""
        start = time.perf_counter()
        while True:
            counts = self.counts()
            if sum(counts.get(status, 0) for status in FINAL) >= total:
                return time.perf_counter() - start, counts
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"not finished after {timeout} s: {counts}")
            time.sleep(0.2)


def stop(workers):
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def check_once(log, expected, key):
    """Return the number of duplicates (0 expected) after checking the count."""
    counter = Counter(entry[key] for entry in log)
    duplicates = sum(n - 1 for n in counter.values() if n > 1)
    assert len(log) == expected and duplicates == 0, (len(log), expected, duplicates)
    return duplicates


def fresh(project, sink_path):
    """Empty the project's mail tables and the sink's log for the next round."""
    project.reset()
    Path(sink_path).write_bytes(b"")


def drain(project, sink_path, workers, total, key):
    """Let *workers* processes send the *total* queued rows; check each arrived once.

    *key*: the sink log column that must be unique (0 Message-ID, 1 recipient).
    Return the seconds it took.
    """
    processes = project.workers(workers)
    try:
        seconds, counts = project.wait(total, timeout=7200)
    finally:
        stop(processes)
    assert counts == {"sent": total}, counts
    check_once(sink_log(sink_path), total, key)
    return seconds


def bench_outbox(project, sink_path, messages, worker_counts, sync_messages):
    results = {}
    fresh(project, sink_path)
    sync = project.tool("enqueue", sync_messages, "--sync")
    results["sync_ms_per_message"] = 1000 * sync["seconds"] / sync_messages
    for count in worker_counts:
        fresh(project, sink_path)
        queued = project.tool("enqueue", messages)
        results.setdefault("enqueue_ms_per_message", 1000 * queued["seconds"] / messages)
        seconds = drain(project, sink_path, count, messages, 0)
        results[count] = messages / seconds
        print(f"  {count} worker(s): {messages} messages in {seconds:.1f} s = "
              f"{messages / seconds:.1f} msgs/s, ratio to 1 worker "
              f"{results[count] / results[worker_counts[0]]:.2f}; duplicates 0; "
              f"{sink_connections(sink_path)} SMTP connection(s)", flush=True)
    return results


def bench_reminders(project, sink_path, contractors, workers):
    fresh(project, sink_path)
    project.tool("seed_reminders", contractors)
    sync = project.tool("remind")["seconds"]
    assert project.counts() == {"sent": contractors}
    check_once(sink_log(sink_path), contractors, 1)
    fresh(project, sink_path)
    project.tool("seed_reminders", contractors)
    start = time.perf_counter()
    project.tool("remind", "--background")
    enqueue = time.perf_counter() - start
    seconds = drain(project, sink_path, workers, contractors, 1)  # one message per address
    records = project.db.execute(
        "SELECT count(*), count(DISTINCT contractor_key) FROM symfonia_mail_reminderrecord "
        "WHERE status = 'sent'").fetchone()
    assert records == (contractors, contractors), records
    return sync, enqueue, enqueue + seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--delay", type=float, default=0.01)
    parser.add_argument("--sync-messages", type=int, default=300)
    parser.add_argument("--contractors", type=int, default=10_000)
    parser.add_argument("--reminder-workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=50, help="contractors per task")
    parser.add_argument("--skip-outbox", action="store_true")
    parser.add_argument("--skip-reminders", action="store_true")
    args = parser.parse_args()
    worker_counts = [int(n) for n in args.workers.split(",")]
    os.environ["SYMFONIA_REMINDER_CHUNK"] = str(args.chunk)
    postgres = PostgresServer()
    sink_path = tempfile.mktemp(prefix="symfonia-sink-")  # noqa: S306 - the sink creates it
    sink, port = start_sink(args.delay, sink_path)
    try:
        project = Project(postgres)
        project.tool("migrate")
        project.tool("configure", port)
        if not args.skip_outbox:
            print(f"Outbox: {args.messages} messages, sink answering each command after "
                  f"{args.delay * 1000:.0f} ms, PostgreSQL + db_worker", flush=True)
            result = bench_outbox(project, sink_path, args.messages, worker_counts,
                                  args.sync_messages)
            print(f"  enqueue: {result['enqueue_ms_per_message']:.2f} ms per message; "
                  f"synchronous send: {result['sync_ms_per_message']:.2f} ms per message "
                  f"(x{result['sync_ms_per_message'] / result['enqueue_ms_per_message']:.1f})")
        if not args.skip_reminders:
            project.tool("configure", port)
            print(f"Reminders: {args.contractors} contractors x 2 invoice PDFs", flush=True)
            sync, enqueue, total = bench_reminders(project, sink_path, args.contractors,
                                                   args.reminder_workers)
            print(f"  synchronous command: {sync:.1f} s; --background + "
                  f"{args.reminder_workers} workers: {total:.1f} s (enqueue {enqueue:.1f} s), "
                  f"x{sync / total:.2f}; each contractor reminded once (sink and records)")
    finally:
        sink.terminate()
        postgres.stop()
        Path(sink_path).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
