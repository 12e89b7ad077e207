"""Admin pages at scale: queries per page do not grow with the rows or the users.

Counted with Django's test client (queries, not timing; the timing is in
bench/bench_admin.py). The MailLog list has no date hierarchy (its SELECT
DISTINCT over every row was most of the page at 100,000 rows), and the user
field of a user configuration is an autocomplete, not a drop-down of every user.
"""

import datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from symfonia_mail.models import MailLog, UserMailConfig

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:symfonia_mail_maillog_changelist")


def add_rows(count, senders):
    now = timezone.now()
    MailLog.objects.bulk_create([
        MailLog(created_at=now - datetime.timedelta(hours=i), status="sent", scope="global",
                transport="smtp", sent_by=senders[i % len(senders)], subject=f"Nr {i}",
                recipients=f"k{i}@example.com", message_id=f"<{i}@test>")
        for i in range(count)
    ])


def page_queries(client, url, data=None):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, data or {})
    assert response.status_code == 200
    return response, [q["sql"] for q in captured.captured_queries]


@pytest.fixture
def admin_client_(client):
    admin = User.objects.create_superuser("admin", "admin@firma.example", "pw")
    client.force_login(admin)
    return client


@pytest.mark.parametrize("data", [{}, {"status__exact": "failed"}, {"q": "k7@"}],
                         ids=["all", "status filter", "search"])
def test_maillog_list_queries_do_not_grow_with_rows(admin_client_, data):
    senders = [User.objects.create(username=f"s{i}") for i in range(30)]
    add_rows(30, senders)
    _response, few = page_queries(admin_client_, LIST_URL, data)
    add_rows(600, senders)
    response, many = page_queries(admin_client_, LIST_URL, data)
    assert len(many) == len(few) <= 7
    # No date hierarchy: no query over every row's date.
    assert not [sql for sql in many if "DISTINCT" in sql and "created_at" in sql]


def test_maillog_list_of_a_staff_user_counts_queries(client):
    staff = User.objects.create_user("anna", "anna@firma.example", "pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_maillog"))
    other = User.objects.create(username="other")
    add_rows(40, [staff, other])
    client.force_login(staff)
    response, queries = page_queries(client, LIST_URL)
    assert response.context["cl"].result_count == 20  # only what anna sent
    add_rows(400, [staff, other])
    _response, more = page_queries(client, LIST_URL)
    assert len(more) == len(queries)


def test_user_configuration_page_has_no_drop_down_of_every_user(admin_client_):
    User.objects.bulk_create([User(username=f"office{i}") for i in range(300)])
    owner = User.objects.get(username="office7")
    row = UserMailConfig.objects.create(user=owner, host="smtp.example.com", port=587)
    url = reverse("admin:symfonia_mail_usermailconfig_change", args=[row.pk])
    response, queries = page_queries(admin_client_, url)
    html = response.content.decode()
    assert "admin-autocomplete" in html
    assert "office123" not in html  # only the selected user is rendered
    assert html.count("<option") < 100
    add_page, add_queries = page_queries(
        admin_client_, reverse("admin:symfonia_mail_usermailconfig_add"))
    assert add_page.content.decode().count("office2") == 0
    assert not [sql for sql in queries + add_queries
                if 'FROM "auth_user"' in sql and "LIMIT" not in sql and "WHERE" not in sql]


def test_user_autocomplete_finds_users(admin_client_):
    User.objects.bulk_create([User(username=f"office{i}") for i in range(50)])
    response = admin_client_.get(reverse("admin:autocomplete"), {
        "app_label": "symfonia_mail", "model_name": "usermailconfig", "field_name": "user",
        "term": "office4"})
    assert response.status_code == 200
    names = {item["text"] for item in response.json()["results"]}
    assert "office4" in names and "office41" in names and "office5" not in names
