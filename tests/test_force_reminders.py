"""Issue 12 (5): "Send again today (force)" with a confirmation page naming who already got one."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from symfonia_mail.models import ReminderRecord
from symfonia_mail.reminders import reminded_today

from .test_reminders_sales import ledger  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

CONTRACTORS = reverse("admin:sales_contractor_changelist")


@pytest.fixture
def office(client, db):
    user = get_user_model().objects.create_superuser("kasia", "kasia@firma.example", "pw",
                                                     first_name="Kasia", last_name="Nowak")
    client.force_login(user)
    return user


def act(client, action, *contractors, **extra):
    return client.post(CONTRACTORS, {"action": action,
                                     "_selected_action": [c.pk for c in contractors], **extra},
                       headers={"Accept-Language": "en"})


def test_force_asks_first_listing_who_got_one_today_then_sends_again(
        ledger, global_config, smtp_server, client, office):  # noqa: F811
    acme, zuraw = ledger["acme"], ledger["zuraw"]
    act(client, "send_payment_reminders", acme)
    assert len(smtp_server.messages) == 1
    # The ordinary action skips acme now ("use force"); the forced one exists and asks first.
    act(client, "send_payment_reminders", acme)
    assert len(smtp_server.messages) == 1
    page = act(client, "send_payment_reminders_force", acme, zuraw)
    assert page.status_code == 200
    html = page.content.decode()
    already = html[html.index('id="already-reminded"'):html.index("</ul>", html.index(
        'id="already-reminded"'))]
    assert "ACME sp. z o.o." in already and "Żuraw" not in already and "kasia" in already
    assert "Żuraw s.c." in html[html.index('id="first-today"'):]
    assert 'name="post" value="yes"' in html and "Yes, send again" in html
    assert len(smtp_server.messages) == 1, "the confirmation page sends nothing"
    # Confirmed: both are sent, acme for the second time today.
    done = act(client, "send_payment_reminders_force", acme, zuraw, post="yes")
    assert done.status_code == 302
    assert len(smtp_server.messages) == 3
    assert ReminderRecord.objects.filter(contractor_key=f"sales.contractor:{acme.pk}",
                                         status="sent").count() == 2


def test_the_force_action_needs_the_change_permission(ledger, client):  # noqa: F811
    from django.contrib.auth.models import Permission

    viewer = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_contractor"))
    client.force_login(viewer)
    page = client.get(CONTRACTORS)
    assert "send_payment_reminders_force" not in page.content.decode()


def test_reminded_today_reads_the_days_records(ledger, global_config, smtp_server, client,  # noqa: F811
                                               office):
    from django.utils import timezone
    from sales.models import Contractor
    from sales.reminders import reminders_for_contractors

    act(client, "send_payment_reminders", ledger["acme"])
    reminders = reminders_for_contractors(Contractor.objects.all(), timezone.localdate())
    found = reminded_today(reminders)
    assert list(found) == [f"sales.contractor:{ledger['acme'].pk}"]
    assert found[f"sales.contractor:{ledger['acme'].pk}"][0].sent_by == office
