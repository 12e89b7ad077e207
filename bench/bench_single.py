"""Single send_mail calls: ConfiguredEmailBackend vs Django's stock SMTP backend, same run.

    .venv/bin/python bench/bench_single.py [--calls 300] [--rounds 5] [--keep-alive 30]
                                           [--no-log-writer]

A web request sends one message at a time (``send_mail`` without ``connection=``):
Django opens a connection per call; ours keeps it open between calls
(``KEEP_ALIVE``, default 30 s; ``--keep-alive 0`` measures Django's way). Both go
to the same loopback sink (its own process); rounds alternate. Ours writes a
MailLog row per call, which stock does not: its cost is included (outside a
transaction the log writer's thread writes it; each round ends when every row
is in the database, and that wait is timed too). Measured
twice: in autocommit (the row commits on its own: on SQLite that commit is
a disk sync, which stock never pays) and in a view with ATOMIC_REQUESTS that
saves a row of its own (``transaction.atomic()`` + one UPDATE, for both: the
MailLog row joins the request's transaction and its commit). Printed: ms
per call (median of rounds), the ratio ours/stock (the median of each round's ratio
to the stock round run just before it), our database queries
per call and the SMTP sessions each opened (counted by the sink). Not a timed test.

    --wal           SQLite with a write-ahead log and synchronous=NORMAL
    --db-dir /dev/shm   the file in memory: no disk at all (CPU cost only)
    --postgres      a private PostgreSQL on loopback (Debian's package, tests/pg.py) with
                    its production defaults: fsync and synchronous commits on
    --no-log-writer the caller writes its row before send_mail returns (LOG_WRITER False)
    --shared-revision-cache   the revision token in a cache every process shares (Django's
                    file cache here; Redis or Memcached in production): no freshness query
    --no-freshness-connection   PostgreSQL's freshness query on Django's connection, run
                    while the server answers the commands (FRESHNESS_CONNECTION False)
"""

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import setup_django  # noqa: E402
from smtp_sink import reset_counters, start_sink  # noqa: E402

BODY = "Dzień dobry,\n\nw załączeniu faktura {numer}.\n" * 20


def configure(port):
    from symfonia_mail.models import GlobalMailConfig

    config = GlobalMailConfig.get_solo()
    config.host, config.port, config.security = "127.0.0.1", port, "none"
    config.sender_email, config.sender_name = "biuro@firma.example", "Biuro"
    config.dsn_notify, config.timeout_ms = "OnFailure", 10_000
    config.save()


def ours_call(i):
    from django.core.mail import send_mail

    from symfonia_mail import mail_context

    with mail_context(numer=f"FV/{i}/2026"):
        assert send_mail("Faktura {numer}", BODY, None, [f"k{i}@example.com"]) == 1


def stock_call(i, port):
    from django.core.mail import get_connection, send_mail

    connection = get_connection("django.core.mail.backends.smtp.EmailBackend",
                                host="127.0.0.1", port=port, timeout=10)
    number = f"FV/{i}/2026"
    assert send_mail(f"Faktura {number}", BODY.replace("{numer}", number),
                     "Biuro <biuro@firma.example>", [f"k{i}@example.com"],
                     connection=connection) == 1


def per_call_ms(call, calls, atomic):
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone

    from symfonia_mail.tracking.log_writer import wait_for_log

    started, cpu = time.perf_counter(), time.process_time()
    for i in range(calls):
        with transaction.atomic() if atomic else nullcontext():
            if atomic:  # the view's own write (the same for both backends)
                User.objects.filter(pk=1).update(last_login=timezone.now())
            call(i)
    assert wait_for_log()  # every row of the round is in the database (the writer's thread)
    wall = (time.perf_counter() - started) / calls * 1000
    return wall, (time.process_time() - cpu) / calls * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db-dir", default=None,
                        help="where the SQLite file goes (e.g. /dev/shm: no disk syncs)")
    parser.add_argument("--wal", action="store_true",
                        help="SQLite in WAL mode with synchronous=NORMAL (no sync per commit)")
    parser.add_argument("--postgres", action="store_true",
                        help="a private PostgreSQL (durable commits) instead of SQLite")
    parser.add_argument("--no-log-writer", action="store_true",
                        help='LOG_WRITER False: the caller writes its row before returning')
    parser.add_argument("--shared-revision-cache", action="store_true",
                        help="REVISION_CACHE on a cache shared by processes (no query per call)")
    parser.add_argument("--no-freshness-connection", action="store_true",
                        help="FRESHNESS_CONNECTION False: PostgreSQL's freshness query on "
                             "Django's connection, while the server answers")
    parser.add_argument("--keep-alive", type=float, default=30,
                        help='SYMFONIA_MAIL["KEEP_ALIVE"] for ours (0: a session per call)')
    args = parser.parse_args()

    sink, port = start_sink()
    sessions = {"stock": [], "ours": []}
    postgres = database = None
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.pg import PostgresServer

        postgres = PostgresServer(durable=True)
        database = {"ENGINE": "django.db.backends.postgresql", "HOST": postgres.host,
                    "PORT": postgres.port, "NAME": postgres.name, "USER": postgres.user}

    def counted(name, call, atomic):
        from symfonia_mail.smtp import pool as smtp_pool

        smtp_pool.close_all()  # each round pays its own opening: 1 session, not 0
        reset_counters(sink)
        result = per_call_ms(call, args.calls, atomic)
        sessions[name].append(sink.counters["total"].value)
        return result

    try:
        with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
            caches = {"default": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(Path(tmp) / "cache"),
            }} if args.shared_revision_cache else None
            setup_django(str(Path(tmp) / "single.sqlite3"), wal=args.wal, database=database,
                         caches=caches,
                         symfonia_mail={"KEEP_ALIVE": args.keep_alive,
                                        "LOG_WRITER": not args.no_log_writer,
                                        "FRESHNESS_CONNECTION":
                                            not args.no_freshness_connection})
            from django.contrib.auth.models import User
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            from symfonia_mail.models import MailLog

            User.objects.create(pk=1, username="office")
            configure(port)
            stock = lambda i: stock_call(i, port)  # noqa: E731
            per_call_ms(ours_call, 20, False)  # warm-up: imports, DNS_NAME, configuration
            per_call_ms(stock, 20, False)
            with CaptureQueriesContext(connection) as captured:
                ours_call(0)
            queries = [q["sql"].split()[0] for q in captured.captured_queries]
            where = ("PostgreSQL on loopback (fsync, synchronous_commit on)" if postgres else
                     f"SQLite file in {tmp}{' (WAL, synchronous=NORMAL)' if args.wal else ''}")
            print(f"calls per round: {args.calls}, rounds: {args.rounds}, alternating; {where}")
            writer = "its own" if args.no_log_writer else "the log writer's thread"
            print(f"our queries per call on the caller's connection: {len(queries)} "
                  f"({', '.join(queries)}); the MailLog row written by {writer}")
            if postgres and not args.no_freshness_connection:
                print("the freshness query: on its own connection, sent as the call starts "
                      "(FRESHNESS_CONNECTION)")
            for atomic in (False, True):
                ours, theirs = [], []
                for _ in range(args.rounds):
                    theirs.append(counted("stock", stock, atomic))
                    ours.append(counted("ours", ours_call, atomic))
                mode = "view with ATOMIC_REQUESTS + 1 write" if atomic else "autocommit"
                for what, index in (("wall", 0), ("CPU", 1)):
                    o = statistics.median(r[index] for r in ours)
                    s = statistics.median(r[index] for r in theirs)
                    # Each round against the stock round just before it: the machine's
                    # drift over a run (other tenants, the disk) cancels out.
                    paired = statistics.median(
                        ours_round[index] / stock_round[index]
                        for ours_round, stock_round in zip(ours, theirs, strict=True))
                    print(f"{mode:36} {what:4}: stock {s:6.2f} ms/call, ours {o:6.2f} ms/call "
                          f"(with its MailLog row), ratio {paired:5.2f}")
            print(f"SMTP sessions opened per {args.calls} calls (KEEP_ALIVE {args.keep_alive:g}): "
                  f"stock {max(sessions['stock'])}, ours {max(sessions['ours'])}")
            assert MailLog.objects.exclude(status="sent").count() == 0
    finally:
        sink.terminate()
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    main()
