"""Threads of one OS process sending through one limited configuration (connection limits test).

``python -m tests.limit_child setup PORT LIMIT`` migrates the shared database
(tests/settings_file_db.py) and points the global configuration at 127.0.0.1:PORT
with ``max_connections = LIMIT``. ``python -m tests.limit_child send READY GO
THREADS COUNT`` creates READY, waits (bounded) for GO, then THREADS threads each
send COUNT single ``send_mail`` calls; it prints {"sent": n, "errors": [...]}.
"""

import json
import os
import sys


def setup(port, limit):
    from django.core.management import call_command

    from symfonia_mail.models import GlobalMailConfig

    call_command("migrate", verbosity=0)
    config = GlobalMailConfig.get_solo()
    config.transport, config.host, config.port, config.security = "smtp", "127.0.0.1", port, "none"
    config.sender_email, config.timeout_ms = "biuro@firma.example", 10000
    config.max_connections = limit
    config.full_clean()
    config.save()


def send(ready, go, threads, count):
    from django.core.mail import send_mail

    from .reminder_race import wait_for_go
    from .threads import in_threads

    wait_for_go(ready, go)
    sent = []
    errors = in_threads(threads, lambda number: sent.extend(
        send_mail(f"P{os.getpid()} T{number} #{i}", "Treść", None, ["klient@example.com"])
        for i in range(count)))
    print(json.dumps({"sent": sum(sent), "errors": [repr(error) for error in errors]}))


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings_file_db")
    import django

    django.setup()
    if sys.argv[1] == "setup":
        setup(int(sys.argv[2]), int(sys.argv[3]))
    else:
        send(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
