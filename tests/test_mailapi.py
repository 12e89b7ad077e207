"""Sending through Microsoft Graph and the Gmail API (issue 22), against loopback mirrors.

tests/graph_server.py and tests/gmail_server.py answer with the documented
request and response shapes and accept only live tokens that the suite's
token endpoint (tests/oauth_server.py) issued for their own scopes. No mock.
"""

import email
import os
from datetime import timedelta
from email import policy
from email.utils import getaddresses
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
import trustme
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, send_mail
from django.utils import timezone, translation

from symfonia_mail.background import ratelimit, taskq
from symfonia_mail.config import resolver
from symfonia_mail.diagnostics.smtp_test import run_smtp_test
from symfonia_mail.exceptions import MailApiError, MailApiTemporaryError
from symfonia_mail.mailapi import graph
from symfonia_mail.models import GlobalMailConfig, MailLog
from symfonia_mail.oauth import tokens as oauth
from symfonia_mail.problems import CODES

from .gmail_server import GmailMirror
from .graph_server import GraphMirror
from .oauth_server import GMAIL_SEND_SCOPE
from .test_admin import GLOBAL_URL, form_data
from .test_background import DUMMY, run_ready_tasks
from .test_oauth_admin import CONNECT_URL
from .test_ratelimit import FakeClock

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def _mirror(kind, server_cert, token_endpoint, settings):
    mirror = kind(server_cert, token_endpoint)
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, **mirror.settings()}
    return mirror


@pytest.fixture
def graph_mirror(server_cert, token_endpoint, settings):
    """A loopback Microsoft Graph; GRAPH_URL points at it."""
    mirror = _mirror(GraphMirror, server_cert, token_endpoint, settings)
    yield mirror
    mirror.stop()


@pytest.fixture
def gmail_mirror(server_cert, token_endpoint, settings):
    """A loopback Gmail API; GMAIL_API_URL points at it."""
    mirror = _mirror(GmailMirror, server_cert, token_endpoint, settings)
    yield mirror
    mirror.stop()


def save_api(endpoint, transport, *, gmail_scope=GMAIL_SEND_SCOPE, **overrides):
    """Save the global configuration for *transport*, signed in through *endpoint*."""
    google = transport == "gmail_api"
    config = GlobalMailConfig.get_solo()
    values = {
        "transport": transport, "host": "", "timeout_ms": 5000,
        "auth_method": "google" if google else "microsoft365",
        "username": endpoint.mailbox, "sender_email": endpoint.mailbox,
        "sender_name": "Biuro Firma", "oauth_client_id": endpoint.client_id,
        "oauth_tenant": "" if google else endpoint.tenant,
        "oauth_client_secret": endpoint.client_secret,
        # Google has no unattended sign-in here: the account was connected ("Connect").
        "oauth_refresh_token": (endpoint.issue_refresh_token(provider="google",
                                                             scope=gmail_scope)
                                if google else ""),
    }
    values.update(overrides)
    for name, value in values.items():
        setattr(config, name, value)
    config.full_clean()
    config.save()
    return config


@pytest.fixture(params=["microsoft_graph", "gmail_api"])
def api(request, token_endpoint):
    """(transport, its mirror) for each API transport."""
    fixture = "graph_mirror" if request.param == "microsoft_graph" else "gmail_mirror"
    return request.param, request.getfixturevalue(fixture)


def parsed(mime):
    return email.message_from_bytes(mime, policy=policy.default)


def attachments(message):
    return {part.get_filename(): part.get_payload(decode=True)
            for part in message.iter_attachments()}


def addresses(message, *names):
    return {address for name in names
            for _n, address in getaddresses([str(v) for v in message.get_all(name, [])])}


def test_small_message_arrives_complete(api, token_endpoint):
    transport, mirror = api
    save_api(token_endpoint, transport)
    message = EmailMessage("Faktura FV/1/2026", "Zażółć gęślą jaźń", None, ["klient@example.com"])
    message.attach("faktura.pdf", b"%PDF-1.7 small", "application/pdf")
    assert message.send() == 1
    [(mailbox, mime)] = mirror.delivered
    received = parsed(mime)
    assert mailbox == token_endpoint.mailbox
    assert received["Subject"] == "Faktura FV/1/2026"
    assert addresses(received, "From") == {token_endpoint.mailbox}
    assert attachments(received) == {"faktura.pdf": b"%PDF-1.7 small"}
    assert "Zażółć gęślą jaźń" in received.get_body(("plain",)).get_content()
    log = MailLog.objects.get()
    assert log.status == "sent" and log.transport == transport and log.server == mirror.url
    assert message.symfonia_status.status == "sent"


def test_six_megabyte_message_arrives_complete(api, token_endpoint):
    transport, mirror = api
    save_api(token_endpoint, transport)
    big, small = os.urandom(6 * MB), os.urandom(200_000)
    message = EmailMessage("Skany", "W załączniku", None, ["klient@example.com"])
    message.attach("skan.bin", big, "application/octet-stream")
    message.attach("opis.bin", small, "application/octet-stream")
    assert message.send() == 1
    [(_mailbox, mime)] = mirror.delivered
    assert attachments(parsed(mime)) == {"skan.bin": big, "opis.bin": small}
    paths = [(method, path) for method, path, _status in mirror.requests]
    if transport == "microsoft_graph":
        # Over sendMail's 4 MB: a draft, the big file through an upload session, send.
        assert not any(path.endswith("/sendMail") for _m, path in paths)
        assert any(path.endswith("/attachments/createUploadSession") for _m, path in paths)
        puts = [path for method, path in paths if method == "PUT"]
        assert len(puts) == -(-len(big) // graph.CHUNK)
        assert paths[-1][1].endswith("/send")
    else:
        assert paths == [("POST", "/upload/gmail/v1/users/me/messages/send")]
    assert all(status < 300 for _m, _p, status in mirror.requests)


def test_bcc_travels_in_the_bcc_header_never_in_to_or_cc(api, token_endpoint):
    transport, mirror = api
    save_api(token_endpoint, transport, bcc="archiwum@firma.example", cc="kopia@firma.example")
    EmailMessage("s", "b", None, ["klient@example.com"], bcc=["ukryty@example.com"]).send()
    received = parsed(mirror.delivered[0][1])
    assert addresses(received, "Bcc") == {"archiwum@firma.example", "ukryty@example.com"}
    assert addresses(received, "To", "Cc") == {"klient@example.com", "kopia@firma.example"}


def test_unattended_and_delegated_graph_tokens_are_graph_tokens(graph_mirror, token_endpoint):
    # Delegated: the connected account's refresh token, exchanged for Graph's Mail.Send.
    save_api(token_endpoint, "microsoft_graph", oauth_client_secret="",
             oauth_refresh_token=token_endpoint.issue_refresh_token())
    assert send_mail("s", "b", None, ["klient@example.com"]) == 1
    [(path, grant, _used)] = token_endpoint.requests
    assert grant == "refresh_token" and len(graph_mirror.delivered) == 1


def test_an_exchange_smtp_token_is_not_reused_for_graph(token_endpoint):
    stored = save_api(token_endpoint, "microsoft_graph")
    graph_config = resolver.from_model(stored)
    stored.transport = "smtp"
    smtp_config = resolver.from_model(stored)
    assert oauth.cache_key(graph_config) != oauth.cache_key(smtp_config)
    graph_token = oauth.access_token(graph_config).access_token
    smtp_token = oauth.access_token(smtp_config).access_token
    assert token_endpoint.scope_of(graph_token) == "https://graph.microsoft.com/.default"
    assert token_endpoint.scope_of(smtp_token) == "https://outlook.office365.com/.default"
    assert oauth.access_token(graph_config).access_token == graph_token  # each cached


def test_a_refused_token_is_replaced_once(api, token_endpoint):
    transport, mirror = api
    save_api(token_endpoint, transport)
    assert send_mail("s", "b", None, ["klient@example.com"]) == 1
    token_endpoint.expire_access_tokens()  # the API now refuses the cached token (401)
    assert send_mail("s", "b", None, ["klient@example.com"]) == 1
    assert len(mirror.delivered) == 2
    assert [status for _m, _p, status in mirror.requests] == [200 if transport == "gmail_api"
                                                              else 202, 401] + [
        200 if transport == "gmail_api" else 202]
    assert len(token_endpoint.requests) == 2  # the first token, one replacement


def test_a_token_refused_twice_is_an_error(api, token_endpoint):
    transport, mirror = api
    save_api(token_endpoint, transport)
    mirror.fail_next(401, {"error": {"code": "InvalidAuthenticationToken",
                                     "message": "Access token validation failure."}}, times=2)
    with pytest.raises(MailApiError) as caught:
        send_mail("s", "b", None, ["klient@example.com"])
    assert caught.value.code == "api_token_refused" and len(token_endpoint.requests) == 2


def graph_error(mirror, status, code, message, **headers):
    mirror.fail_next(status, {"error": {"code": code, "message": message}}, headers=headers)


@pytest.mark.parametrize(("prepare", "code", "named"), [
    (lambda mirror, endpoint: setattr(endpoint, "graph_permissions", {"Mail.ReadWrite"}),
     "api_graph_permission_missing", "Mail.Send"),
    (lambda mirror, endpoint: setattr(mirror, "rbac_scope", {"inny@firma.example"}),
     "api_mailbox_out_of_scope", "ErrorAccessDenied"),
    (lambda mirror, endpoint: None, "api_send_as_denied", "ErrorSendAsDenied"),
    (lambda mirror, endpoint: mirror.mailboxes.clear(), "api_mailbox_not_found",
     "ErrorInvalidUser"),
], ids=["mail-send-missing", "outside-rbac-scope", "send-as-denied", "no-mailbox"])
def test_graph_refusals_are_named(graph_mirror, token_endpoint, prepare, code, named):
    sender = "prezes@firma.example" if code == "api_send_as_denied" else token_endpoint.mailbox
    save_api(token_endpoint, "microsoft_graph", sender_email=sender)
    prepare(graph_mirror, token_endpoint)
    with pytest.raises(MailApiError) as caught:
        send_mail("s", "b", None, ["klient@example.com"])
    assert caught.value.code == code and not caught.value.temporary
    log = MailLog.objects.get()
    assert log.status == "failed" and named in log.error
    assert '{"error"' not in log.error and "{'error'" not in log.error  # never the raw JSON

    with translation.override("en"):  # MailLog.error is English (the log's language)
        assert str(CODES[code]) in log.error  # the hint, as for SMTP's errors
    assert log.problem["code"] == code  # the page shows it in the reader's language


def test_graph_draft_route_names_a_missing_mail_readwrite(graph_mirror, token_endpoint):
    save_api(token_endpoint, "microsoft_graph")
    token_endpoint.graph_permissions = {"Mail.Send"}
    message = EmailMessage("s", "b", None, ["klient@example.com"])
    message.attach("skan.bin", os.urandom(5 * MB), "application/octet-stream")
    with pytest.raises(MailApiError) as caught:
        message.send()
    assert caught.value.code == "api_graph_permission_missing"
    assert "Mail.ReadWrite" in str(caught.value)


def test_over_the_request_limit_is_413(graph_mirror, token_endpoint, monkeypatch):
    # The client believes sendMail takes more than Graph does: Graph answers 413.
    monkeypatch.setattr(graph, "SEND_MAIL_MAX", 10 * MB)
    save_api(token_endpoint, "microsoft_graph")
    message = EmailMessage("s", "b", None, ["klient@example.com"])
    message.attach("skan.bin", os.urandom(4 * MB), "application/octet-stream")
    with pytest.raises(MailApiError) as caught:
        message.send()
    assert caught.value.code == "api_too_large" and caught.value.status == 413


def test_gmail_over_35_megabytes_is_refused_before_sending(gmail_mirror, token_endpoint):
    save_api(token_endpoint, "gmail_api")
    message = EmailMessage("s", "b", None, ["klient@example.com"])
    message.attach("film.bin", b"\0" * (27 * MB), "application/octet-stream")
    with pytest.raises(MailApiError) as caught:
        message.send()
    assert caught.value.code == "api_too_large" and gmail_mirror.requests == []


def test_gmail_without_a_sending_scope_names_gmail_send(gmail_mirror, token_endpoint):
    save_api(token_endpoint, "gmail_api",
             gmail_scope="https://www.googleapis.com/auth/gmail.readonly")
    with pytest.raises(MailApiError) as caught:
        send_mail("s", "b", None, ["klient@example.com"])
    assert caught.value.code == "api_gmail_scope_missing" and caught.value.status == 403
    assert "gmail.send" in str(caught.value)


@pytest.mark.parametrize(("status", "code"), [(429, "api_throttled"), (503, "api_unavailable"),
                                              (500, "api_unavailable")])
def test_throttling_and_outages_are_temporary(api, token_endpoint, status, code):
    transport, mirror = api
    save_api(token_endpoint, transport)
    body = ({"error": {"code": "ApplicationThrottled", "message": "Too many requests."}}
            if transport == "microsoft_graph" else
            {"error": {"code": status, "message": "Rate Limit Exceeded",
                       "status": "RESOURCE_EXHAUSTED" if status == 429 else "UNAVAILABLE"}})
    mirror.fail_next(status, body, headers={"Retry-After": "7"})
    with pytest.raises(MailApiTemporaryError) as caught:
        send_mail("s", "b", None, ["klient@example.com"])
    assert caught.value.code == code and caught.value.retry_after == 7
    mirror.fail_next(status, body)
    assert send_mail("s", "b", None, ["klient@example.com"], fail_silently=True) == 0
    assert [log.status for log in MailLog.objects.order_by("pk")] == ["failed", "failed"]


def test_api_transport_needs_the_matching_sign_in():
    config = GlobalMailConfig.get_solo()
    config.transport, config.sender_email = "microsoft_graph", "biuro@firma.example"
    with pytest.raises(ValidationError) as caught:
        config.full_clean()
    assert "Microsoft 365" in str(caught.value.message_dict["auth_method"])
    assert "host" not in caught.value.message_dict  # no SMTP server to fill in
    config.transport, config.auth_method = "gmail_api", "microsoft365"
    with translation.override("pl"), pytest.raises(ValidationError) as caught:
        config.full_clean()
    assert "Google" in caught.value.message_dict["auth_method"][0]
    assert "Gmail API wysyła" in caught.value.message_dict["auth_method"][0]


def test_the_configurations_ca_list_is_trusted(token_endpoint, settings):

    company_ca = trustme.CA()  # not in SSL_CERT_FILE: only the configuration trusts it
    mirror = _mirror(GraphMirror, company_ca.issue_cert("127.0.0.1"), token_endpoint, settings)
    try:
        save_api(token_endpoint, "microsoft_graph")
        with pytest.raises(MailApiError) as caught:
            send_mail("s", "b", None, ["klient@example.com"])
        assert caught.value.code == "certificate_not_trusted"
        save_api(token_endpoint, "microsoft_graph",
                 ca_certificates=company_ca.cert_pem.bytes().decode())
        assert send_mail("s", "b", None, ["klient@example.com"]) == 1
        assert len(mirror.delivered) == 1
    finally:
        mirror.stop()


def test_background_retry_waits_for_retry_after(api, token_endpoint, settings,
                                                django_capture_on_commit_callbacks):
    transport, mirror = api
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "BACKGROUND": True,
                              "RETRY_BASE_DELAY": 0.01}
    settings.TASKS = DUMMY
    tasks = taskq.backend()
    tasks.clear()
    save_api(token_endpoint, transport, bcc="archiwum@firma.example")
    mirror.fail_next(429, {"error": {"code": 429, "message": "Too many requests."}},
                     headers={"Retry-After": "120"})
    with django_capture_on_commit_callbacks(execute=True):
        assert send_mail("s", "b", None, ["klient@example.com"]) == 1
    assert run_ready_tasks(tasks) == ["retry"]
    log = MailLog.objects.get()
    assert log.next_attempt_at >= timezone.now() + timedelta(seconds=119)
    assert "retry after 120 s" in log.error
    assert run_ready_tasks(tasks) == []  # not before the service's Retry-After
    with time_machine.travel(log.next_attempt_at + timedelta(seconds=1)):
        assert run_ready_tasks(tasks) == ["sent"]
    received = parsed(mirror.delivered[0][1])
    assert addresses(received, "Bcc") == {"archiwum@firma.example"}
    assert addresses(received, "To") == {"klient@example.com"}
    tasks.clear()


def test_test_smtp_signs_in_and_sends_through_the_api(api, token_endpoint):

    transport, mirror = api
    stored = save_api(token_endpoint, transport, bcc="archiwum@firma.example")
    report = run_smtp_test(resolver.from_model(stored), language="en")
    assert report.ok, report.summary()
    assert [step.name for step in report.steps] == ["token", "api"]
    with translation.override("en"):
        assert report.steps[1].label == "Send through the mailbox API"
    assert report.steps[1].detail == mirror.url
    [(_mailbox, mime)] = mirror.delivered
    received = parsed(mime)
    assert received["Message-ID"] == report.message_id
    assert addresses(received, "Bcc") == {"archiwum@firma.example"}
    assert set(report.accepted) == {token_endpoint.mailbox, "archiwum@firma.example"}


def test_test_smtp_names_the_failing_step_with_its_hint(api, token_endpoint):

    transport, mirror = api
    stored = save_api(token_endpoint, transport)
    mirror.fail_next(503, {"error": {"code": 503, "message": "The service is unavailable.",
                                     "status": "UNAVAILABLE"}}, headers={"Retry-After": "30"})
    report = run_smtp_test(resolver.from_model(stored), language="en")
    assert not report.ok and report.failure.name == "api"
    assert report.code == "api_unavailable" and "HTTP 503" in report.failure.reply
    with translation.override("en"):
        assert "temporarily unavailable" in str(report.hint)
    # A sign-in that fails stops at the token step, with its own hint.
    token_endpoint.revoke_all()
    stored.oauth_client_secret = "wrong" if transport == "microsoft_graph" else (
        stored.oauth_client_secret)
    oauth.forget()
    report = run_smtp_test(resolver.from_model(stored), language="en")
    assert [step.name for step in report.steps] == ["token"] and report.failure.hint


def test_admin_test_smtp_for_an_api_transport(api, token_endpoint, client):
    transport, mirror = api
    stored = save_api(token_endpoint, transport)
    client.force_login(User.objects.create_superuser("admin", "admin@firma.example", "pw"))
    response = client.post(GLOBAL_URL, form_data(stored, _test_smtp="1", host="",
                                                  auth_method=stored.auth_method,
                                                  oauth_client_id=stored.oauth_client_id,
                                                  oauth_tenant=stored.oauth_tenant),
                           headers={"Accept-Language": "en", "Accept": "application/json"})
    result = response.json()
    assert result["level"] == "success", result
    assert "Send through the mailbox API" in result["html"]
    assert len(mirror.delivered) == 1


def test_admin_refuses_delivery_notifications_for_an_api_transport(token_endpoint, client):
    stored = save_api(token_endpoint, "microsoft_graph")
    client.force_login(User.objects.create_superuser("admin", "admin@firma.example", "pw"))
    page = client.get(GLOBAL_URL, headers={"Accept-Language": "en"}).content.decode()
    assert "Not available with Microsoft Graph or the Gmail API" in page
    response = client.post(GLOBAL_URL, form_data(
        stored, dsn_notify=["OnFailure"], auth_method=stored.auth_method,
        oauth_client_id=stored.oauth_client_id, oauth_tenant=stored.oauth_tenant),
        headers={"Accept-Language": "en"})
    assert response.status_code == 200  # the form again, with the error
    assert "cannot ask for delivery notifications" in response.content.decode()
    assert GlobalMailConfig.objects.get().dsn_notify == ""


def test_connect_asks_for_the_scope_of_the_transport(api, token_endpoint, client):
    transport, _mirror = api
    save_api(token_endpoint, transport)
    client.force_login(User.objects.create_superuser("admin", "admin@firma.example", "pw"))
    query = parse_qs(urlsplit(client.post(CONNECT_URL)["Location"]).query)
    wanted = ("https://graph.microsoft.com/Mail.Send" if transport == "microsoft_graph"
              else GMAIL_SEND_SCOPE)
    assert wanted in query["scope"][0].split()


def test_admin_warns_when_graph_would_send_as_another_address(token_endpoint, client):
    stored = save_api(token_endpoint, "microsoft_graph")
    client.force_login(User.objects.create_superuser("admin", "admin@firma.example", "pw"))
    response = client.post(GLOBAL_URL, form_data(
        stored, sender_email="prezes@firma.example", auth_method=stored.auth_method,
        oauth_client_id=stored.oauth_client_id, oauth_tenant=stored.oauth_tenant),
        headers={"Accept-Language": "en"}, follow=True)
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert any("ErrorSendAsDenied" in text and "prezes@firma.example" in text
               for text in warnings), warnings
    assert GlobalMailConfig.objects.get().sender_email == "prezes@firma.example"


def test_the_rate_limit_applies_to_api_sends(api, token_endpoint, monkeypatch):
    clock = FakeClock(timezone.now().replace(second=20, microsecond=0))
    monkeypatch.setattr(ratelimit.Clock, "now", clock.now)
    monkeypatch.setattr(ratelimit.Clock, "sleep", clock.sleep)
    transport, mirror = api
    save_api(token_endpoint, transport, rate_limit_per_minute=2)
    for number in range(3):
        send_mail(f"s{number}", "b", None, ["klient@example.com"])
    assert len(mirror.delivered) == 3
    assert len(clock.slept) == 1 and 60 <= clock.slept[0] <= 60.1  # the third waited


def test_no_answer_after_sending_is_unknown_never_sent_twice(
        graph_mirror, token_endpoint, settings, django_capture_on_commit_callbacks):
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "BACKGROUND": True}
    settings.TASKS = DUMMY
    tasks = taskq.backend()
    tasks.clear()
    save_api(token_endpoint, "microsoft_graph", timeout_ms=300)
    oauth.access_token(resolver.from_model(GlobalMailConfig.get_solo()))  # token in cache
    graph_mirror.delay = 1.0  # the mirror takes the message, the answer comes too late
    with django_capture_on_commit_callbacks(execute=True):
        send_mail("s", "b", None, ["klient@example.com"])
    assert run_ready_tasks(tasks) == ["unknown"]
    log = MailLog.objects.get()
    assert "Microsoft Graph did not answer in time" in log.error
    assert len(graph_mirror.delivered) == 1 and tasks.results == []


def test_graph_attachments_at_the_upload_session_threshold(graph_mirror, token_endpoint):
    # Just under the threshold: one POST whose JSON stays under the 4 MB request limit.
    save_api(token_endpoint, "microsoft_graph")
    files = {"a.bin": os.urandom(graph.UPLOAD_SESSION_FROM - 1),
             "b.bin": os.urandom(graph.UPLOAD_SESSION_FROM)}
    message = EmailMessage("s", "b", None, ["klient@example.com"])
    for name, data in files.items():
        message.attach(name, data, "application/octet-stream")
    assert message.send() == 1
    assert attachments(parsed(graph_mirror.delivered[0][1])) == files
    paths = [path for _m, path, _s in graph_mirror.requests]
    assert sum(path.endswith("/attachments") for path in paths) == 1
    assert sum(path.endswith("/createUploadSession") for path in paths) == 1
