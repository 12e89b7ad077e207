"""Apply delivery reports in its own OS process, for the two-processes test.

``python -m tests.report_race setup COUNT FOLDER`` migrates the shared database, logs
COUNT messages (envelope ids ``race0`` …) and writes for each a bounce and a success
report into FOLDER. ``python -m tests.report_race run READY GO FOLDER`` creates READY,
waits (bounded) until GO exists, so that both processes start together, applies the
reports of FOLDER (the same bytes in both) and prints one JSON line per
``delivery_report`` signal it received.
"""

import json
import os
import sys
import time
from pathlib import Path


def setup(count, folder):
    from django.core.management import call_command

    from symfonia_mail.models import MailLog

    from .reports_samples import dsn

    call_command("migrate", verbosity=0)
    MailLog.objects.bulk_create(
        MailLog(status="sent", scope="global", transport="smtp", envelope_id=f"race{n}",
                recipients="a@example.com, b@example.com", message_id=f"<race{n}@x>")
        for n in range(count))
    for n in range(count):
        for index, (address, action, status) in enumerate(
                [("a@example.com", "failed", "5.1.1"), ("b@example.com", "delivered", "2.0.0")]):
            Path(folder, f"{n:03d}-{index}.eml").write_bytes(
                dsn(f"race{n}", [(address, action, status)], message_id=f"<race{n}@x>"))


def run(ready, go, folder):
    from symfonia_mail.reports import apply_report
    from symfonia_mail.signals import delivery_report

    def received(sender, maillog, event, **kwargs):
        print(json.dumps({"envelope_id": maillog.envelope_id, "recipient": event.recipient,
                          "action": event.action}), flush=True)

    delivery_report.connect(received)
    reports = [path.read_bytes() for path in sorted(Path(folder).iterdir())]
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
        setup(int(sys.argv[2]), sys.argv[3])
    else:
        run(sys.argv[2], sys.argv[3], sys.argv[4])
