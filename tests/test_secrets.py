"""Secrets everywhere (issue 10 item 5): exceptions, MailLog, logs, DEBUG pages, fixtures."""

import base64
import io
import json
import logging
import pickle

import pytest
from django.core.mail import EmailMessage, send_mail
from django.core.management import call_command
from django.test import Client, override_settings

from symfonia_mail.models import GlobalMailConfig, MailLog
from symfonia_mail.secret import Scrubber, Secret

from .conftest import config_values

pytestmark = pytest.mark.django_db

PASSWORD = "Echo-Me-9876"
ATTACHMENT_PASSWORD = "Zip-Secret-5432"


def forms_of(password, user="mailer"):
    """The password and the encodings of it that an AUTH exchange puts on the wire."""
    return [password, *(base64.b64encode(raw.encode()).decode().rstrip("=") for raw in (
        password, f"\0{user}\0{password}", f"{user}\0{password}"))]


@pytest.fixture
def echoing_server(make_smtp_server):
    """A server whose 535 reply echoes the password and the AUTH PLAIN string back."""
    plain = base64.b64encode(f"\0mailer\0{PASSWORD}".encode()).decode()
    login = base64.b64encode(PASSWORD.encode()).decode()
    echo = f"535-5.7.8 you sent {PASSWORD}\r\n535 5.7.8 as {plain} or {login}"
    return make_smtp_server(tls="starttls", users={"mailer": "right"}, auth_failure=echo)


@pytest.fixture
def echo_config(echoing_server):
    config = GlobalMailConfig.get_solo()
    for name, value in config_values(echoing_server, password=PASSWORD,
                                     attachment_password=ATTACHMENT_PASSWORD).items():
        setattr(config, name, value)
    config.save()
    return config


def assert_clean(*texts):
    for text in texts:
        for form in [*forms_of(PASSWORD), ATTACHMENT_PASSWORD]:
            assert form not in text, f"{form!r} leaked"


def test_secret_is_masked_and_not_picklable():
    secret = Secret(PASSWORD)
    assert PASSWORD not in repr(secret) and PASSWORD not in str(secret)
    assert PASSWORD not in repr((secret,)) and secret.reveal() == PASSWORD
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_scrubber_masks_plain_and_base64_forms():
    scrub = Scrubber(Secret(PASSWORD), username="mailer")
    assert_clean(scrub(" / ".join(forms_of(PASSWORD))))
    assert scrub(b"535 bad") == "535 bad"


def test_echoing_server_leaks_nothing_into_exception_log_or_maillog(echo_config, caplog):
    caplog.set_level(logging.DEBUG, logger="symfonia_mail")
    message = EmailMessage("s", "b", to=["a@example.com"])
    message.attach("a.txt", b"data", "text/plain")
    with pytest.raises(Exception) as caught:
        message.send()
    exc = caught.value
    assert getattr(exc, "smtp_code", None) == 535
    row = MailLog.objects.get()
    assert row.status == MailLog.Status.FAILED
    assert "********" in row.error and "535 5.7.8" in row.error
    assert_clean(str(exc), repr(exc), repr(exc.args), str(exc.__context__ or ""),
                 row.error, row.note,
                 # Our log lines (the test server's own aiosmtpd debug log is not ours).
                 "\n".join(r.getMessage() for r in caplog.records
                           if r.name.startswith("symfonia_mail")))


@override_settings(DEBUG=True, ROOT_URLCONF="tests.urls")
def test_debug_technical_500_page_shows_no_secret(echo_config, settings):
    # Django turns sensitive_variables/sensitive_post_parameters off when DEBUG is on
    # (SafeExceptionReporterFilter.is_active() is "not settings.DEBUG"): what keeps the
    # secrets out is that no frame holds them as plain text.
    settings.ALLOWED_HOSTS = ["testserver"]
    client = Client(raise_request_exception=False)
    response = client.get("/send/", {"to": "a@example.com"})
    assert response.status_code == 500
    html = response.content.decode()
    assert "AuthenticationFailed" in html and "Local vars" in html  # the technical page
    assert_clean(html)


def test_dumpdata_writes_ciphertext_and_loaddata_restores_it(echo_config, tmp_path):
    out = io.StringIO()
    call_command("dumpdata", "symfonia_mail.globalmailconfig", stdout=out)
    dumped = out.getvalue()
    assert_clean(dumped)
    fields = json.loads(dumped)[0]["fields"]
    assert fields["password"].startswith("gAAAAA")
    assert fields["attachment_password"].startswith("gAAAAA")
    GlobalMailConfig.objects.update(password="", attachment_password="")
    fixture = tmp_path / "config.json"
    fixture.write_text(dumped)
    call_command("loaddata", str(fixture), verbosity=0)
    config = GlobalMailConfig.objects.get()
    assert config.password == PASSWORD
    assert config.attachment_password == ATTACHMENT_PASSWORD


def test_loaddata_with_another_key_keeps_the_token_unread(echo_config, tmp_path):
    from cryptography.fernet import Fernet

    token = Fernet(Fernet.generate_key()).encrypt(b"other-key-secret").decode()
    out = io.StringIO()
    call_command("dumpdata", "symfonia_mail.globalmailconfig", stdout=out)
    data = json.loads(out.getvalue())
    data[0]["fields"]["password"] = token
    fixture = tmp_path / "config.json"
    fixture.write_text(json.dumps(data))
    call_command("loaddata", str(fixture), verbosity=0)
    stored = GlobalMailConfig.objects.values_list("password", flat=True).get()
    # Read back through the field: still the same token (not encrypted twice), unreadable.
    from symfonia_mail.fields import UnreadableSecret

    assert isinstance(stored, UnreadableSecret) and str(stored) == token
    assert send_mail("s", "b", None, ["a@example.com"], fail_silently=True) == 0
