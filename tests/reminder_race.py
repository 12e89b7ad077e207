"""One reminder run in its own OS process, for the two-processes test.

``python -m tests.reminder_race setup PORT`` migrates the file database
(``SYMFONIA_TEST_DB``) and points the global configuration at the SMTP server
on 127.0.0.1:PORT. ``python -m tests.reminder_race run READY GO COUNT`` creates
the file READY, waits (bounded) until GO exists, so that both runs start
together, reminds COUNT contractors and prints the results as JSON lines.
"""

import datetime
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

REFUSED = "odrzucony@kontrahent.example"


def contractors(count, as_of):
    from symfonia_mail.reminders.sending import ContractorReminder, OverdueDocument

    due = as_of - datetime.timedelta(days=10)
    for n in range(count):
        emails = [f"k{n}@kontrahent.example"]
        if n == 0:  # one partly refused reminder: reported as partial, once
            emails.append(REFUSED)
        yield ContractorReminder(
            name=f"Kontrahent {n}", emails=emails, key=f"race:{n}",
            documents=[OverdueDocument(
                number=f"FV/{n}/2026", issue_date=due - datetime.timedelta(days=14),
                due_date=due, amount=Decimal("100.00"), pdf=b"%PDF-1.4 race",
            )],
        )


def setup(port):
    from django.core.management import call_command

    from symfonia_mail.models import GlobalMailConfig

    call_command("migrate", verbosity=0)
    config = GlobalMailConfig.get_solo()
    config.transport, config.host, config.port, config.security = "smtp", "127.0.0.1", port, "none"
    config.sender_email, config.timeout_ms = "biuro@firma.example", 10000
    config.full_clean()
    config.save()


def wait_for_go(ready, go):
    """Create the file *ready*, then wait (bounded) until the file *go* exists."""
    Path(ready).touch()
    deadline = time.monotonic() + 60
    while not Path(go).exists():
        if time.monotonic() > deadline:
            sys.exit("the test never said go")
        time.sleep(0.005)


def run(ready, go, count):
    from django.utils import timezone

    from symfonia_mail.reminders.sending import send_reminders

    wait_for_go(ready, go)
    as_of = timezone.localdate()
    for result in send_reminders(contractors(count, as_of), as_of=as_of):
        print(json.dumps({"key": result.contractor.key, "status": str(result.status),
                          "reason": result.reason, "refused": list(result.refused)}))


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings_file_db")
    import django

    django.setup()
    if sys.argv[1] == "setup":
        setup(int(sys.argv[2]))
    else:
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]))
