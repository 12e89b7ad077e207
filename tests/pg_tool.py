"""Drive a PostgreSQL-backed test project from the outside (worker tests and benchmarks).

    DJANGO_SETTINGS_MODULE=tests.settings_pg python -m tests.pg_tool migrate
    ... configure SMTP_PORT [--rate N]    point the global configuration at a server
    ... enqueue N [--attach]              send_mail N messages in one transaction (outbox)
    ... state                             print {status: count} and per-row details (JSON)
    ... sweep                             run the stale/lost check now
    ... seed_reminders N                  N contractors with two overdue invoices each
    ... remind [--background]             send_payment_reminders (timed)
    ... take N LIMIT AT MOMENT            at wall time AT, try N rate-limit slots at MOMENT
Each prints one JSON line on stdout.
"""

import argparse
import json
import os
import sys
import time


def main(argv=None):
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate")
    configure = sub.add_parser("configure")
    configure.add_argument("port", type=int)
    configure.add_argument("--rate", type=int, default=None)
    enqueue = sub.add_parser("enqueue")
    enqueue.add_argument("count", type=int)
    enqueue.add_argument("--sync", action="store_true", help="send synchronously instead")
    sub.add_parser("state")
    sub.add_parser("sweep")
    seed = sub.add_parser("seed_reminders")
    seed.add_argument("count", type=int)
    remind = sub.add_parser("remind")
    remind.add_argument("--background", action="store_true")
    take = sub.add_parser("take")
    take.add_argument("count", type=int)
    take.add_argument("limit", type=int)
    take.add_argument("at", type=float, help="wall-clock time (epoch) to start at")
    take.add_argument("moment", help="the frozen time of every attempt (ISO 8601)")
    args = parser.parse_args(argv)

    from symfonia_mail.background import delivery
    from symfonia_mail.models import GlobalMailConfig, MailLog

    if args.command == "migrate":
        call_command("migrate", verbosity=0)
        result = {"ok": True}
    elif args.command == "configure":
        config = GlobalMailConfig.get_solo()
        config.transport, config.host, config.port = "smtp", "127.0.0.1", args.port
        config.security, config.timeout_ms = "none", 10_000
        config.sender_email, config.sender_name = "biuro@firma.example", "Biuro"
        config.dsn_notify = "OnFailure"
        config.rate_limit_per_minute = args.rate
        config.save()
        result = {"ok": True}
    elif args.command == "enqueue":
        result = _enqueue(args.count, args.sync, transaction)
    elif args.command == "state":
        rows = list(MailLog.objects.order_by("pk").values_list(
            "pk", "status", "attempts", "message_id"))
        counts = {}
        for _pk, status, _attempts, _mid in rows:
            counts[status] = counts.get(status, 0) + 1
        result = {"counts": counts, "rows": rows}
    elif args.command == "seed_reminders":
        result = _seed_reminders(args.count)
    elif args.command == "remind":
        from django.conf import settings
        from django.test.utils import override_settings

        start = time.perf_counter()
        extra = ["--background"] if args.background else []
        options = {**settings.SYMFONIA_MAIL, "BACKGROUND": args.background}
        with open(os.devnull, "w") as devnull, override_settings(SYMFONIA_MAIL=options):
            call_command("send_payment_reminders", *extra, stdout=devnull, stderr=devnull)
        result = {"seconds": time.perf_counter() - start}
    elif args.command == "take":
        result = _take(args.count, args.limit, args.at, args.moment)
    else:
        unknown, requeued = delivery.sweep()
        result = {"unknown": unknown, "requeued": requeued}
    sys.stdout.write(json.dumps(result) + "\n")


def _take(count, limit, at, moment):
    """Try *count* rate-limit slots at the frozen *moment*; a slot that would wait is refused."""
    from datetime import datetime

    from django.db import connection

    from symfonia_mail.background import ratelimit

    class Refused(Exception):
        pass

    class FrozenClock:
        now = staticmethod(lambda: datetime.fromisoformat(moment))

        @staticmethod
        def sleep(seconds):
            raise Refused

    connection.ensure_connection()  # connected before the start, like the others
    time.sleep(max(at - time.time(), 0))
    taken = 0
    for _attempt in range(count):
        try:
            ratelimit.acquire("global", limit, clock=FrozenClock)
            taken += 1
        except Refused:
            pass
    return {"taken": taken}


def _seed_reminders(count):
    """Create *count* contractors with two overdue invoices each (bulk)."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone
    from sales.models import Company, Contractor, Invoice

    Company.objects.get_or_create(name="Firma Testowa sp. z o.o.", tax_id="5213000000")
    contractors = Contractor.objects.bulk_create([
        Contractor(name=f"Kontrahent {number:05d}", emails=f"k{number}@example.com")
        for number in range(count)])
    due = timezone.localdate() - timedelta(days=10)
    Invoice.objects.bulk_create([
        Invoice(contractor=contractor, number=f"FV/{contractor.pk}/{part}", amount=Decimal("100"),
                issue_date=due - timedelta(days=14), due_date=due, paid_amount=Decimal("0"),
                currency="PLN")
        for contractor in contractors for part in (1, 2)])
    return {"contractors": count}


def _enqueue(count, sync, transaction):
    from django.conf import settings
    from django.core.mail import EmailMessage, get_connection
    from django.test.utils import override_settings

    messages = [EmailMessage(f"Faktura {{numer}} {number}", "Dzień dobry, {kontrahent}.",
                             to=[f"client{number}@example.com"]) for number in range(count)]
    for number, message in enumerate(messages):
        message.macros = {"numer": f"FV/{number}/2026", "kontrahent": "ACME"}
    options = {**settings.SYMFONIA_MAIL, "BACKGROUND": not sync}
    with override_settings(SYMFONIA_MAIL=options):
        start = time.perf_counter()
        with transaction.atomic():
            connection = get_connection()
            sent = connection.send_messages(messages)
        seconds = time.perf_counter() - start
    return {"sent": sent, "seconds": seconds}


if __name__ == "__main__":
    main()
