"""Apply delivery reports in its own OS process, for the two-processes test.

``python -m tests.report_race setup COUNT`` migrates the shared database and logs COUNT
messages (envelope ids ``race0`` …). ``python -m tests.report_race run READY GO COUNT``
creates READY, waits (bounded) until GO exists, so that both processes start together,
applies for each message a bounce and a success report and prints one JSON line per
``delivery_report`` signal it received.
"""

import json
import os
import sys
import time
from pathlib import Path


def setup(count):
    from django.core.management import call_command

    from symfonia_mail.models import MailLog

    call_command("migrate", verbosity=0)
    MailLog.objects.bulk_create(
        MailLog(status="sent", scope="global", transport="smtp", envelope_id=f"race{n}",
                recipients="a@example.com, b@example.com", message_id=f"<race{n}@x>")
        for n in range(count))


def run(ready, go, count):
    from symfonia_mail.reports import apply_report
    from symfonia_mail.signals import delivery_report

    from .reports_samples import dsn

    def received(sender, maillog, event, **kwargs):
        print(json.dumps({"envelope_id": maillog.envelope_id, "recipient": event.recipient,
                          "action": event.action}), flush=True)

    delivery_report.connect(received)
    reports = [data for n in range(count) for data in (
        dsn(f"race{n}", [("a@example.com", "failed", "5.1.1")], message_id=f"<race{n}@x>"),
        dsn(f"race{n}", [("b@example.com", "delivered", "2.0.0")], message_id=f"<race{n}@x>"),
    )]
    Path(ready).touch()
    deadline = time.monotonic() + 60
    while not Path(go).exists():
        if time.monotonic() > deadline:
            sys.exit("the test never said go")
        time.sleep(0.005)
    for data in reports:
        apply_report(data)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings_file_db")
    import django

    django.setup()
    if sys.argv[1] == "setup":
        setup(int(sys.argv[2]))
    else:
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]))
