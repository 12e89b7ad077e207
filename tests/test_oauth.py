"""OAuth2 (XOAUTH2) sign-in against a loopback identity platform and SMTP server (issue 11).

Nothing is mocked: MSAL and our Google requests talk HTTPS to tests/oauth_server.py's
TokenEndpoint, and the SMTP server accepts AUTH XOAUTH2 only with a live token that
endpoint issued for the mailbox.
"""

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import time_machine
from django.core import mail

from symfonia_mail.exceptions import OAuthError
from symfonia_mail.models import GlobalMailConfig, MailLog
from symfonia_mail.oauth import tokens as oauth

from .conftest import oauth_config_values
from .smtpd import dead_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _session_per_send(settings):
    """Each send opens its own session: these tests watch the login of every one."""
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "KEEP_ALIVE": 0}


def save_global(server, endpoint, method="microsoft365", **overrides):
    config = GlobalMailConfig.get_solo()
    for name, value in oauth_config_values(server, endpoint, method, **overrides).items():
        setattr(config, name, value)
    config.full_clean()
    config.save()
    return config


def send(subject="Faktura", **kwargs):
    return mail.send_mail(subject, "Treść", None, ["klient@example.com"], **kwargs)


def accepted_logins(server):
    return [login for login in server.handler.logins if login[2]]


def stored_refresh_token():
    return GlobalMailConfig.objects.get().oauth_refresh_token


@pytest.mark.django_db
def test_client_credentials_first_token_then_cached(xoauth2_server, token_endpoint):
    save_global(xoauth2_server, token_endpoint)
    assert send("one") == 1
    assert send("two") == 1
    assert [r[1] for r in token_endpoint.grants()] == ["client_credentials"]
    logins = xoauth2_server.handler.logins
    assert len(logins) == 2 and all(accepted for _mailbox, _token, accepted in logins)
    assert logins[0][0] == token_endpoint.mailbox  # user= of the XOAUTH2 string
    assert logins[0][1] == logins[1][1]  # the cached token, reused
    assert [m.message["Subject"] for m in xoauth2_server.messages] == ["one", "two"]
    assert all(m.login == token_endpoint.mailbox and m.tls for m in xoauth2_server.messages)


@pytest.mark.django_db
def test_token_is_refreshed_shortly_before_it_expires(xoauth2_server, token_endpoint):
    save_global(xoauth2_server, token_endpoint)
    with time_machine.travel(time.time(), tick=True) as traveller:
        send()
        traveller.shift(datetime.timedelta(seconds=token_endpoint.expires_in - 400))
        send()  # still valid for ~400 s, beyond the margin: the cached token
        traveller.shift(datetime.timedelta(seconds=200))
        send()  # ~200 s left: replaced before it expires
    assert len(token_endpoint.grants("client_credentials")) == 2
    tokens = [token for _mailbox, token, _ok in accepted_logins(xoauth2_server)]
    assert tokens[0] == tokens[1] != tokens[2]
    # The old token was still good at the server: refreshed early, not after a refusal.
    assert token_endpoint.token_valid(tokens[0], token_endpoint.mailbox)
    assert len(xoauth2_server.handler.logins) == 3


@pytest.mark.django_db
def test_delegated_refresh_saves_the_rotated_refresh_token(xoauth2_server, token_endpoint):
    first = token_endpoint.issue_refresh_token()
    save_global(xoauth2_server, token_endpoint, oauth_refresh_token=first)
    assert send() == 1
    rotated = stored_refresh_token()
    assert rotated != first and rotated.startswith("rt-microsoft-")
    assert token_endpoint.refresh_tokens[rotated]["alive"]
    assert not token_endpoint.refresh_tokens[first]["alive"]  # a lost rotation = no sign-in
    oauth.forget()  # e.g. the next worker process: it must use the saved token
    assert send() == 1
    assert [r[2] for r in token_endpoint.grants("refresh_token")] == [first, rotated]
    assert stored_refresh_token() != rotated


@pytest.mark.django_db
def test_refresh_token_stored_encrypted(xoauth2_server, token_endpoint):
    from django.db import connection

    first = token_endpoint.issue_refresh_token()
    save_global(xoauth2_server, token_endpoint, oauth_refresh_token=first)
    send()
    with connection.cursor() as cursor:
        cursor.execute("SELECT oauth_refresh_token, oauth_client_secret FROM "
                       "symfonia_mail_globalmailconfig")
        stored_token, stored_secret = cursor.fetchone()
    assert stored_token.startswith("gAAAAA") and "rt-" not in stored_token
    assert stored_secret.startswith("gAAAAA") and token_endpoint.client_secret not in stored_secret


@pytest.mark.django_db
def test_revoked_refresh_token_fails_the_send_with_what_to_do(xoauth2_server, token_endpoint):
    token = token_endpoint.issue_refresh_token()
    save_global(xoauth2_server, token_endpoint, oauth_refresh_token=token)
    token_endpoint.revoke_all()
    with pytest.raises(OAuthError) as caught:
        send()
    error = caught.value
    assert error.code == "oauth_grant_revoked" and error.error == "invalid_grant"
    assert error.error_codes == (70000,)
    assert "Connect" in str(error)
    assert xoauth2_server.messages == [] and xoauth2_server.handler.logins == []
    log = MailLog.objects.get()
    assert log.status == MailLog.Status.FAILED and "invalid_grant" in log.error
    problem = GlobalMailConfig.objects.get().oauth_problem
    assert "invalid_grant" in problem  # the admin shows the connection as broken
    for secret in (token, token_endpoint.client_secret):
        assert secret not in str(error) and secret not in log.error and secret not in problem
    assert send(fail_silently=True) == 0  # an SMTPException: fail_silently applies


@pytest.mark.django_db
def test_success_clears_a_recorded_problem(xoauth2_server, token_endpoint):
    save_global(xoauth2_server, token_endpoint)
    GlobalMailConfig.objects.update(oauth_problem="old failure")
    send()
    assert GlobalMailConfig.objects.get().oauth_problem == ""


@pytest.mark.parametrize(("setup", "code", "aadsts"), [
    (lambda e: setattr(e, "secret_expired", True), "oauth_secret_expired", 7000222),
    (lambda e: setattr(e, "consent_granted", False), "oauth_consent_required", 65001),
    (lambda e: setattr(e, "client_secret", "another"), "oauth_client_invalid", 7000215),
    (lambda e: setattr(e, "tenant", "other.onmicrosoft.com"), "oauth_tenant_not_found", 90002),
])
@pytest.mark.django_db
def test_identity_platform_refusals_are_named(xoauth2_server, token_endpoint, setup, code,
                                              aadsts):
    save_global(xoauth2_server, token_endpoint)
    setup(token_endpoint)
    with pytest.raises(OAuthError) as caught:
        send()
    assert caught.value.code == code
    assert aadsts in caught.value.error_codes
    assert f"AADSTS{aadsts}" in str(caught.value)
    assert "app-secret-1" not in str(caught.value)


@pytest.mark.django_db
def test_google_refresh_token_flow(xoauth2_server, token_endpoint):
    token_endpoint.rotate = False  # Google keeps its refresh tokens
    token = token_endpoint.issue_refresh_token(provider="google")
    save_global(xoauth2_server, token_endpoint, "google", oauth_refresh_token=token)
    assert send() == 1 and send() == 1
    assert [(r[0], r[1]) for r in token_endpoint.grants()] == [("/google/token", "refresh_token")]
    assert stored_refresh_token() == token
    assert xoauth2_server.messages[0].login == token_endpoint.mailbox


@pytest.mark.django_db
def test_google_revoked(xoauth2_server, token_endpoint):
    token = token_endpoint.issue_refresh_token(provider="google")
    save_global(xoauth2_server, token_endpoint, "google", oauth_refresh_token=token)
    token_endpoint.revoke_all()
    with pytest.raises(OAuthError) as caught:
        send()
    assert caught.value.code == "oauth_grant_revoked"
    assert "Token has been expired or revoked." == caught.value.description


@pytest.mark.parametrize("skew", [-7200, 7200])
@pytest.mark.django_db
def test_provider_clock_skew_does_not_matter(xoauth2_server, token_endpoint, skew):
    token_endpoint.skew = skew  # its "expires_on" and timestamps are two hours off
    token = token_endpoint.issue_refresh_token()
    save_global(xoauth2_server, token_endpoint, oauth_refresh_token=token)
    assert send() == 1 and send() == 1 and send() == 1
    assert len(token_endpoint.grants()) == 1  # relative expires_in on our clock: reused
    assert all(ok for _m, _t, ok in xoauth2_server.handler.logins)


@pytest.mark.django_db
def test_token_refused_by_the_server_is_replaced_once(xoauth2_server, token_endpoint):
    save_global(xoauth2_server, token_endpoint)
    send()
    # The server's clock is ahead of ours (or the token was revoked): it refuses the
    # token our cache still believes in; the login gets a new one and the send succeeds.
    token_endpoint.expire_access_tokens()
    assert send() == 1
    assert [ok for _m, _t, ok in xoauth2_server.handler.logins] == [True, False, True]
    assert len(token_endpoint.grants()) == 2


@pytest.mark.django_db
def test_fresh_token_refused_is_not_retried(xoauth2_server, token_endpoint):
    from symfonia_mail.exceptions import OAuthLoginRefused

    save_global(xoauth2_server, token_endpoint, username="someone-else@firma.example",
                sender_email="someone-else@firma.example")
    token_endpoint.mailbox = "biuro@firma.example"
    # A delegated token for biuro@ does not open someone-else@'s mailbox.
    token = token_endpoint.issue_refresh_token("biuro@firma.example")
    GlobalMailConfig.objects.update(oauth_refresh_token=token)
    with pytest.raises(OAuthLoginRefused) as caught:
        send()
    assert caught.value.smtp_code == 535 and caught.value.code == "oauth_login_refused"
    assert len(xoauth2_server.handler.logins) == 1


WORKER = """
import json, os, sys, time
sys.path.insert(0, os.environ["ROOT"])
from tests import settings as test_settings
test_settings.DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                                       "NAME": os.environ["DB"], "OPTIONS": {"timeout": 30}}}
test_settings.SYMFONIA_MAIL = json.loads(os.environ["SYMFONIA_MAIL"])
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django
django.setup()
from symfonia_mail.config import resolver
from symfonia_mail.oauth import tokens as oauth
from symfonia_mail.models import GlobalMailConfig
if sys.argv[1] == "setup":
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    config = GlobalMailConfig.get_solo()
    for name, value in json.loads(os.environ["VALUES"]).items():
        setattr(config, name, value)
    config.save()
    print(json.dumps({"ok": True}))
elif sys.argv[1] == "token":
    config = resolver.resolve()
    while time.time() < float(os.environ["START_AT"]):
        time.sleep(0.01)
    try:
        grant = oauth.access_token(config, record=True)
        print(json.dumps({"ok": True, "how": grant.how}))
    except Exception as exc:
        print(json.dumps({"ok": False, "error": str(exc)}))
else:
    print(json.dumps({"token": GlobalMailConfig.objects.get().oauth_refresh_token}))
"""


def run_worker(env, *args):
    return subprocess.Popen([sys.executable, "-c", WORKER, *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def worker_result(process):
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_two_processes_refreshing_at_once_lose_no_rotation(token_endpoint, tmp_path, settings):
    first = token_endpoint.issue_refresh_token()
    values = {"transport": "smtp", "host": "127.0.0.1", "port": 25, "security": "starttls",
              "auth_method": "microsoft365", "username": token_endpoint.mailbox,
              "sender_email": token_endpoint.mailbox, "oauth_tenant": token_endpoint.tenant,
              "oauth_client_id": token_endpoint.client_id,
              "oauth_client_secret": token_endpoint.client_secret,
              "oauth_refresh_token": first}
    env = {**os.environ, "ROOT": str(ROOT), "DB": str(tmp_path / "shared.sqlite3"),
           "SYMFONIA_MAIL": json.dumps(settings.SYMFONIA_MAIL), "VALUES": json.dumps(values)}
    assert worker_result(run_worker(env, "setup"))["ok"]
    token_endpoint.delay = 0.5  # both processes are inside a refresh at the same time
    env["START_AT"] = str(time.time() + 3)  # both past their start-up, then go together
    workers = [run_worker(env, "token") for _ in range(2)]
    results = [worker_result(w) for w in workers]
    assert all(r["ok"] for r in results), results
    used = [r[2] for r in token_endpoint.grants("refresh_token")]
    assert used[0] == first and len(used) == 2
    assert used[1] != first  # the second process waited and used the saved rotation
    stored = worker_result(run_worker(env, "stored"))["token"]
    assert token_endpoint.refresh_tokens[stored]["alive"]


@pytest.mark.django_db
def test_background_sending_fails_a_revoked_sign_in_at_once(xoauth2_server, token_endpoint,
                                                            settings,
                                                            django_capture_on_commit_callbacks):
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "BACKGROUND": True,
                              "INLINE_RETRY_DELAY": 0.05}
    token = token_endpoint.issue_refresh_token()
    save_global(xoauth2_server, token_endpoint, oauth_refresh_token=token)
    token_endpoint.revoke_all()
    with django_capture_on_commit_callbacks(execute=True):
        send()
    log = MailLog.objects.get()
    # Not retried: a revoked consent needs a person, not a backoff.
    assert log.status == MailLog.Status.FAILED and log.attempts == 1
    assert "invalid_grant" in log.error
    assert len(token_endpoint.grants("refresh_token")) == 1


@pytest.mark.django_db
def test_background_sending_retries_an_unreachable_identity_platform(
        xoauth2_server, token_endpoint, settings, django_capture_on_commit_callbacks):
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, "BACKGROUND": True,
                              "INLINE_RETRY_DELAY": 0.05,
                              "GOOGLE_TOKEN_URL": f"https://127.0.0.1:{dead_port()}/token"}
    token = token_endpoint.issue_refresh_token(provider="google")
    save_global(xoauth2_server, token_endpoint, "google", oauth_refresh_token=token)
    with django_capture_on_commit_callbacks(execute=True):
        send()
    log = MailLog.objects.get()
    assert log.attempts > 1 and "could not be reached" in log.error
