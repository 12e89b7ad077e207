"""The MailLog admin at 100,000 rows vs a plain admin list of the same table, same run.

    .venv/bin/python bench/bench_admin.py [--rows 100000] [--repeat 7]

A SQLite file gets *rows* MailLog rows (30 senders, four statuses, spread
over a year). The same superuser then loads, with Django's test client:
the plain list (``admin.ModelAdmin`` with no options, on a second admin
site), our MailLog list unfiltered, filtered by status and by sender, a
search, and a non-superuser's own list; plus the change page of a user
configuration with 1,000 users (the user field is an autocomplete). It
prints the median time and the queries of each page, and our list's ratio
to the plain one. Not a timed test: a measurement.
"""

import argparse
import datetime
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import median_ms, setup_django  # noqa: E402

urlpatterns = []


def build_urls():
    from django.contrib import admin
    from django.urls import path

    from symfonia_mail.models import MailLog

    plain = admin.AdminSite(name="plain")
    plain.register(MailLog)
    urlpatterns[:] = [path("admin/", admin.site.urls), path("plain/", plain.urls)]


def populate(rows, users):
    from django.contrib.auth.models import User
    from django.utils import timezone

    from symfonia_mail.models import MailLog

    User.objects.bulk_create(
        [User(username=f"user{i}", is_staff=True) for i in range(users)], batch_size=500
    )
    ids = list(User.objects.values_list("pk", flat=True))[:30]
    rng = random.Random(14)
    now = timezone.now()
    statuses = ["sent"] * 7 + ["failed", "partial", "queued"]
    batch = []
    for i in range(rows):
        batch.append(MailLog(
            created_at=now - datetime.timedelta(seconds=rng.randrange(365 * 86400)),
            status=rng.choice(statuses), scope=rng.choice(["global", "individual"]),
            sent_by_id=rng.choice(ids), transport="smtp", server="smtp.example.com:587",
            sender="biuro@firma.example", recipients=f"k{i}@example.com",
            subject=f"Faktura FV/{i}/2026", message_id=f"<{i}@bench>",
        ))
        if len(batch) == 5000:
            MailLog.objects.bulk_create(batch)
            batch = []
    MailLog.objects.bulk_create(batch)
    return ids


def measure(client, url, repeat):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    queries = len(captured)  # read now: the next request resets the query log
    return median_ms(lambda: client.get(url), repeat), queries


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(str(Path(tmp) / "admin.sqlite3"), admin=True, urlconf=__name__)
        build_urls()
        from django.contrib.auth.models import Permission, User
        from django.test import Client

        from symfonia_mail.models import UserMailConfig

        ids = populate(args.rows, args.users)
        User.objects.create_superuser("admin", "admin@example.com", "admin")
        staff = User.objects.get(pk=ids[0])
        staff.user_permissions.set(Permission.objects.filter(codename="view_maillog"))
        config = UserMailConfig.objects.create(user=staff, host="smtp.example.com", port=587)
        client, own = Client(), Client()
        client.force_login(User.objects.get(username="admin"))
        own.force_login(staff)

        pages = [
            ("plain admin list (baseline)", client, "/plain/symfonia_mail/maillog/"),
            ("MailLog list", client, "/admin/symfonia_mail/maillog/"),
            ("MailLog list, status=failed", client,
             "/admin/symfonia_mail/maillog/?status__exact=failed"),
            ("MailLog list, one sender", client,
             f"/admin/symfonia_mail/maillog/?sent_by__id__exact={ids[1]}"),
            ("MailLog list, search", client, "/admin/symfonia_mail/maillog/?q=k4242%40"),
            ("MailLog list, staff (own rows)", own, "/admin/symfonia_mail/maillog/"),
            (f"user configuration change page ({args.users} users)", client,
             f"/admin/symfonia_mail/usermailconfig/{config.pk}/change/"),
        ]
        print(f"MailLog rows: {args.rows:,}; users: {args.users:,}; SQLite file; "
              f"median of {args.repeat}")
        baseline = None
        for label, who, url in pages:
            ms, queries = measure(who, url, args.repeat)
            baseline = baseline or ms
            print(f"{label:48} {ms:8.1f} ms  {queries:3d} queries  {ms / baseline:5.2f}x plain")


if __name__ == "__main__":
    main()
