"""Stored sender, CC and BCC values that bypassed the admin form are parsed strictly at send time.

Values are stored through the ORM (``QuerySet.update``: no ``full_clean``, as a
shell, a data migration or a fixture would do), then sent against a real
loopback SMTP server: the message fails with InvalidAddress naming the field,
nothing reaches the server, the MailLog row says why.
"""

import smtplib

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection, send_mail

from symfonia_mail.exceptions import InvalidAddress
from symfonia_mail.models import GlobalMailConfig, MailLog, UserMailConfig

from .conftest import config_values

pytestmark = pytest.mark.django_db

BAD_VALUES = [
    # field, stored value, an offending entry the error must quote
    ("cc", "kopia@firma.test\nX-Injected: yes", "X-Injected: yes"),
    ("cc", "kopia@firma.test, yes", "yes"),
    ("bcc", "archiwum@firma.test; audit@firma.test", "archiwum@firma.test; audit@firma.test"),
    ("bcc", "kopia@firma.test,\r\nBcc: evil@attacker.example", "Bcc: evil@attacker.example"),
    ("sender_email", "biuro@firma.example, evil@attacker.example", "evil@attacker.example"),
    ("sender_email", "biuro@firma.example\nBcc: evil@attacker.example", "Bcc: evil"),
    ("sender_email", "not an address", "not an address"),
    ("sender_name", "Biuro\r\nBcc: evil@attacker.example", "Bcc: evil@attacker.example"),
]


def store(**values):
    """Write *values* into the global configuration the way a shell or fixture would."""
    GlobalMailConfig.objects.filter(pk=GlobalMailConfig.get_solo().pk).update(**values)
    from symfonia_mail.config import resolver

    resolver.bump_revision()  # update() sends no post_save: say it changed


@pytest.mark.parametrize(("field", "value", "quoted"), BAD_VALUES)
def test_a_bad_stored_value_fails_the_message_naming_the_field(
    global_config, smtp_server, field, value, quoted,
):
    store(**{field: value})
    with pytest.raises(InvalidAddress) as caught:
        send_mail("Faktura", "Treść", None, ["klient@example.com"])
    error = caught.value
    assert isinstance(error, smtplib.SMTPException)
    assert error.field == field
    assert f"({field})" in str(error) and "global configuration" in str(error)
    assert quoted in str(error)
    # Nothing reached the server: no RCPT TO:<yes>, no injected header.
    assert smtp_server.messages == []
    row = MailLog.objects.get()
    assert row.status == MailLog.Status.FAILED
    assert row.error.startswith("InvalidAddress: ") and f"({field})" in row.error


def test_fail_silently_silences_it_and_the_failure_is_logged(global_config, smtp_server):
    store(cc="kopia@firma.test\nX-Injected: yes")
    assert send_mail("Faktura", "Treść", None, ["klient@example.com"], fail_silently=True) == 0
    assert smtp_server.messages == []
    assert MailLog.objects.get().status == MailLog.Status.FAILED


def test_a_users_bad_configuration_fails_only_that_users_messages(
    global_config, smtp_server, make_smtp_server,
):
    own = make_smtp_server(tls="starttls", users={"anna": "anna-Pa55"})
    anna = get_user_model().objects.create_user("anna", password="x")
    UserMailConfig.objects.create(user=anna, scope="individual", **config_values(
        own, sender_email="anna@firma.example"))
    UserMailConfig.objects.filter(user=anna).update(bcc="szef@firma.example\nX-Injected: yes")
    from symfonia_mail.config import resolver

    resolver.bump_revision()
    messages = []
    for user in (anna, None, anna, None):
        message = EmailMessage("a", "b", to=["klient@example.com"])
        message.user = user
        messages.append(message)
    assert get_connection(fail_silently=True).send_messages(messages) == 2
    assert own.messages == []
    assert len(smtp_server.messages) == 2
    statuses = list(MailLog.objects.order_by("id").values_list("status", flat=True))
    assert statuses == ["failed", "sent", "failed", "sent"]


def test_good_stored_lists_still_work(global_config, smtp_server):
    store(cc="Kopia <kopia@firma.test>, druga@firma.test", bcc="archiwum@firma.test",
          sender_name="Biuro, Firma")
    send_mail("Faktura", "Treść", None, ["klient@example.com"])
    [message] = smtp_server.messages
    assert message.rcpt_tos == ["klient@example.com", "kopia@firma.test", "druga@firma.test",
                                "archiwum@firma.test"]


@pytest.mark.parametrize(("field", "value", "quoted"), BAD_VALUES)
def test_model_validation_refuses_the_same_values(global_config, field, value, quoted):
    config = GlobalMailConfig.get_solo()
    setattr(config, field, value)
    with pytest.raises(ValidationError) as caught:
        config.full_clean()
    assert field in caught.value.message_dict


def test_test_smtp_of_a_stored_bad_value_fails_its_step_and_sends_nothing(smtp_server):
    from symfonia_mail.config.resolver import from_model
    from symfonia_mail.diagnostics.smtp_test import run_smtp_test

    config = GlobalMailConfig(**config_values(smtp_server, cc="kopia@firma.test\nX-Injected: yes"))
    report = run_smtp_test(from_model(config), language="en")
    assert not report.ok
    failed = report.failure
    assert failed.name == "rcpt_to"
    assert "(cc)" in failed.reply and "X-Injected: yes" in failed.reply, failed
    assert smtp_server.messages == []
