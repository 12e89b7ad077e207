"""A separate process that sends through ConfiguredEmailBackend (scale tests).

    python tests/send_child.py users DB PORT COUNT     # COUNT users, own configurations
    python tests/send_child.py memory DB PORT COUNT    # COUNT messages from a generator

It runs with a soft limit of 1,024 open files (the common default), on its
own SQLite file, and prints one JSON line with what it measured.
"""

import json
import os
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(db_path):
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "symfonia_mail"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db_path}},
        FIELD_ENCRYPTION_KEY="1kBzrjKphtTwXxtuYXvg43JijZhjSwMQjyEq-Pq_zzY=",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField", USE_TZ=True,
        EMAIL_BACKEND="symfonia_mail.backends.ConfiguredEmailBackend",
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def smtp_values(port):
    return {"transport": "smtp", "host": "127.0.0.1", "port": port, "security": "none",
            "timeout_ms": 10_000, "sender_email": "biuro@firma.example"}


def users(port, count):
    """Send one message for each of *count* users with their own configuration."""
    from django.contrib.auth.models import User
    from django.core.mail import EmailMessage, get_connection
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from symfonia_mail.models import GlobalMailConfig, MailLog, UserMailConfig
    from symfonia_mail.signals import pre_send

    GlobalMailConfig.objects.update_or_create(pk=1, defaults=smtp_values(port))
    User.objects.bulk_create([User(username=f"u{i}") for i in range(count)])
    ids = list(User.objects.order_by("pk").values_list("pk", flat=True))
    UserMailConfig.objects.bulk_create(
        [UserMailConfig(user_id=pk, scope="individual", **smtp_values(port)) for pk in ids]
    )
    messages = []
    for pk in ids:
        message = EmailMessage("Faktura", "Dzień dobry.", to=[f"k{pk}@example.com"])
        message.user = pk
        messages.append(message)
    peak = [0]

    def count_sockets(**kwargs):
        # Before each message: the sockets this process holds (what "Too many open files"
        # counts), read from the kernel, not from the backend's own bookkeeping.
        peak[0] = max(peak[0], open_sockets())

    pre_send.connect(count_sockets)
    with CaptureQueriesContext(connection) as captured:
        sent = get_connection().send_messages(messages)
    pre_send.disconnect(count_sockets)
    sql = [q["sql"].lower() for q in captured.captured_queries]
    return {"sent": sent, "queries": len(sql),
            "config_queries": sum("usermailconfig" in q for q in sql),
            "logged": MailLog.objects.filter(status="sent").count(),
            "peak_sockets": peak[0]}


def open_sockets():
    """Return how many sockets this process has open (Linux: /proc/self/fd)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:  # closed meanwhile (the listing's own descriptor)
            pass
    return count


def memory(port, count):
    """Send *count* messages from a generator in one call; report the peak RSS it added."""
    from django.core.mail import EmailMessage, get_connection

    from symfonia_mail.models import GlobalMailConfig, MailLog

    GlobalMailConfig.objects.update_or_create(pk=1, defaults=smtp_values(port))
    body = "Dzień dobry,\n\nprzypominamy o płatności za fakturę {numer}.\n" * 20

    def generate(n):
        for i in range(n):
            message = EmailMessage("Faktura {numer}", body, to=[f"k{i}@example.com"])
            message.macros = {"numer": f"FV/{i}/2026"}
            yield message

    # Warm up (imports, caches, the first log batch) so only the batch itself is measured.
    get_connection().send_messages(generate(1000))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sent = get_connection().send_messages(generate(count))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"sent": sent, "added_kib": after - before, "logged": MailLog.objects.count()}


def main():
    mode, db_path, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    setup(db_path)
    result = {"users": users, "memory": memory}[mode](port, count)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
