"""Issue 19, the administrator's first hour (second pass), through Django's test client."""

import pytest
from django.urls import reverse

from symfonia_mail.models import GlobalMailConfig, UserMailConfig

from .conftest import config_values
from .test_admin import GLOBAL_URL, form_data, individual_row, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(db):
    return make_staff("admin", superuser=True)


# --- item 10: the rate limit has a field ---------------------------------------------------


def test_rate_limit_is_edited_on_both_configuration_pages(client, admin_user, smtp_server):
    client.force_login(admin_user)
    html = client.get(GLOBAL_URL, headers={"Accept-Language": "en"}).content.decode()
    assert 'name="rate_limit_per_minute"' in html
    assert "Sending limit" in html and "Microsoft 365 allows 30" in html
    values = GlobalMailConfig(**config_values(smtp_server))
    response = client.post(GLOBAL_URL, form_data(values, password=smtp_server.password,
                                                 rate_limit_per_minute="30", _save="1"))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert GlobalMailConfig.objects.get().rate_limit_per_minute == 30

    row = individual_row(admin_user, smtp_server)
    change = reverse("admin:symfonia_mail_usermailconfig_change", args=[row.pk])
    assert 'name="rate_limit_per_minute"' in client.get(change).content.decode()
    response = client.post(change, form_data(row, rate_limit_per_minute="12", _save="1"))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert UserMailConfig.objects.get().rate_limit_per_minute == 12
    # Empty means no limit.
    response = client.post(change, form_data(row, rate_limit_per_minute="", _save="1"))
    assert UserMailConfig.objects.get().rate_limit_per_minute is None
