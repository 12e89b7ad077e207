"""The one adapter to a Django internal: the admin's change form context.

``MailSettingsAdmin.render_unsaved`` (Test SMTP, Reload scope) builds the
context that ``ModelAdmin.changeform_view`` builds privately and hands to the
public ``render_change_form``. These tests fail when Django's context gains or
loses a key, so the adapter is revisited with every Django version tested.
"""

import pytest

from symfonia_mail.admin.base import MailSettingsAdmin

from .test_admin import admin_user, clerk, form_data, individual_row, user_url  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def contexts(monkeypatch):
    """Record the context each render_change_form call receives (before it adds its own)."""
    seen = []
    original = MailSettingsAdmin.render_change_form

    def record(self, request, context, *args, **kwargs):
        seen.append(dict(context))
        return original(self, request, context, *args, **kwargs)

    monkeypatch.setattr(MailSettingsAdmin, "render_change_form", record)
    return seen


def test_unsaved_form_context_has_the_keys_django_builds(client, admin_user, clerk,  # noqa: F811
                                                         global_config, smtp_server, contexts):
    row = individual_row(clerk, smtp_server)
    client.force_login(admin_user)
    assert client.get(user_url(row)).status_code == 200  # Django's own changeform_view
    reloaded = client.post(user_url(row), form_data(row, scope="global", _reload_scope="1"))
    assert reloaded.status_code == 200  # our render_unsaved

    django_context, ours = contexts
    assert sorted(ours) == sorted(django_context)
    for key in ("adminform", "original", "object_id", "media", "errors"):
        assert type(ours[key]) is type(django_context[key]), key
    assert ours["original"] == django_context["original"] == row


def test_show_secret_is_post_only(client, admin_user, clerk, global_config,  # noqa: F811
                                  smtp_server):
    row = individual_row(clerk, smtp_server)
    client.force_login(clerk)
    url = f"/admin/symfonia_mail/usermailconfig/{row.pk}/show-secret/password/"
    assert client.get(url).status_code == 405
    assert client.post(url).json() == {"value": smtp_server.password}
