"""Fixtures: real SMTP servers on 127.0.0.1 and saved mail configurations."""

import os

import pytest
import trustme
from django.utils import translation

from symfonia_mail.config import resolver
from symfonia_mail.smtp import pool as smtp_pool

from .smtpd import SMTPServer


@pytest.fixture(autouse=True)
def _keep_active_language():
    """Restore the active language after each test.

    LocaleMiddleware activates the language of every test-client request and nothing
    deactivates it, so a request with Accept-Language: en would make later tests (a
    management command, a validation message) speak English.
    """
    from django.utils import translation

    language = translation.get_language()
    yield
    translation.activate(language) if language else translation.deactivate()


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory):
    """A test CA trusted by ssl.create_default_context() through SSL_CERT_FILE."""
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    previous = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(path)
    yield ca
    if previous is None:
        os.environ.pop("SSL_CERT_FILE", None)
    else:
        os.environ["SSL_CERT_FILE"] = previous


@pytest.fixture(scope="session")
def server_cert(tls_ca):
    return tls_ca.issue_cert("127.0.0.1", "localhost")


@pytest.fixture
def make_smtp_server(server_cert):
    """Start SMTP servers with the given options; all are stopped after the test."""
    started = []

    def make(**options):
        options.setdefault("certificate", server_cert)
        server = SMTPServer(**options)
        started.append(server)
        return server

    yield make
    # Our kept connections first: on Python 3.12+ aiosmtpd's stop() waits for open ones.
    smtp_pool.close_all()
    for server in started:
        server.stop()


@pytest.fixture
def smtp_server(make_smtp_server):
    """STARTTLS + AUTH (user "mailer") + DSN, on 127.0.0.1."""
    return make_smtp_server(tls="starttls", users={"mailer": "s3cret-Pa55"}, dsn=True)


def config_values(server, **overrides):
    """Return MailSettings field values that point at *server*."""
    values = {
        "transport": "smtp",
        "host": server.host,
        "port": server.port,
        "security": "starttls",
        "timeout_ms": 5000,
        "username": server.username,
        "password": server.password,
        "sender_email": "biuro@firma.example",
        "sender_name": "Biuro Firma",
    }
    values.update(overrides)
    return values


def save_global(server, **overrides):
    """Save the GlobalMailConfig with config_values(server, **overrides), validated."""
    from symfonia_mail.models import GlobalMailConfig

    config = GlobalMailConfig.get_solo()
    for name, value in config_values(server, **overrides).items():
        setattr(config, name, value)
    config.full_clean()
    config.save()
    return config


@pytest.fixture
def global_config(db, smtp_server):
    """The saved GlobalMailConfig, pointing at smtp_server."""
    return save_global(smtp_server, company_name="Firma Testowa sp. z o.o.")


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in LANGUAGE_CODE: a request's Accept-Language stays active after it."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_config_cache():
    """Each test starts with an empty per-process configuration cache."""
    resolver.clear_cache()
    yield
    resolver.clear_cache()


@pytest.fixture(autouse=True)
def _configured_backend(settings):
    """Django's test setup swaps the mail backend for locmem; the host project uses ours."""
    from django.conf import settings as django_settings

    from tests.settings import BACKEND

    if hasattr(django_settings, "MAILERS"):
        settings.MAILERS = {**settings.MAILERS, "default": {"BACKEND": BACKEND}}
    else:
        settings.EMAIL_BACKEND = BACKEND


@pytest.fixture
def token_endpoint(server_cert, settings):
    """A loopback OAuth2 identity platform (HTTPS, test CA); the app's URLs point at it."""
    from symfonia_mail.oauth import tokens as oauth

    from .oauth_server import TokenEndpoint

    endpoint = TokenEndpoint(server_cert)
    settings.SYMFONIA_MAIL = {**settings.SYMFONIA_MAIL, **endpoint.settings()}
    oauth.forget()
    oauth._apps.clear()
    yield endpoint
    endpoint.stop()
    oauth.forget()
    oauth._apps.clear()


@pytest.fixture
def xoauth2_server(make_smtp_server, token_endpoint):
    """STARTTLS + AUTH XOAUTH2 only, accepting only live tokens of token_endpoint."""
    from .oauth_server import XOAuth2Handler

    return make_smtp_server(
        tls="starttls", dsn=True, handler=XOAuth2Handler(token_endpoint, dsn=True),
        smtp_options={"auth_required": True, "auth_exclude_mechanism": ["PLAIN", "LOGIN"]})


def oauth_config_values(server, endpoint, method="microsoft365", **overrides):
    """Return MailSettings values for an OAuth2 sign-in at *server* through *endpoint*."""
    values = {
        "auth_method": method, "username": endpoint.mailbox, "password": "",
        "sender_email": endpoint.mailbox, "oauth_client_id": endpoint.client_id,
        "oauth_tenant": endpoint.tenant if method == "microsoft365" else "",
        "oauth_client_secret": endpoint.client_secret,
    }
    return config_values(server, **{**values, **overrides})
# Modules whose tests talk SMTP to a real server: they run twice, with PIPELINING
# (RFC 2920) used when offered and with it forced off, so both paths keep the same
# behaviour (refusals, DSN, errors).
SMTP_LEVEL_MODULES = {"test_backend", "test_diagnostics", "test_smtp_dialogue",
                      "test_deadlines"}


def pytest_generate_tests(metafunc):
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module in SMTP_LEVEL_MODULES and "_pipelining" in metafunc.fixturenames:
        metafunc.parametrize("_pipelining", [True, False], indirect=True,
                             ids=["pipelining", "no-pipelining"])


@pytest.fixture(autouse=True)
def _pipelining(request, settings):
    """SYMFONIA_MAIL["PIPELINING"] for the test (parametrized in SMTP-level modules)."""
    enabled = getattr(request, "param", True)
    if not enabled:
        settings.SYMFONIA_MAIL = {**(getattr(settings, "SYMFONIA_MAIL", None) or {}),
                                  "PIPELINING": False}
    return enabled


@pytest.fixture(scope="session")
def postfix():
    """A private Postfix on 127.0.0.1 (tests/postfix.py); fails, never skips, if it cannot start."""
    import time

    from .postfix import start

    began = time.monotonic()
    instance = start()
    instance.setup_seconds = time.monotonic() - began
    yield instance
    instance.stop()


@pytest.fixture(autouse=True)
def _no_kept_smtp_connection():
    """A background worker keeps its SMTP connection; no test inherits another's."""
    yield
    from symfonia_mail.background import delivery

    delivery.forget_connection()
    smtp_pool.close_all()  # send_mail keeps its connection too (KEEP_ALIVE)


@pytest.fixture(autouse=True)
def _log_rows_written():
    """A test's MailLog rows are written before its database is flushed (log_writer).

    A row the writer wrote after the flush would appear in the next test.
    """
    yield
    from symfonia_mail.tracking.log_writer import wait_for_log

    assert wait_for_log(30), "the log writer did not finish within 30 s"


@pytest.fixture(scope="session")
def dovecot(postfix, server_cert):
    """A private Dovecot (tests/dovecot.py) serving the private Postfix's Maildirs."""
    from .dovecot import start

    instance = start(server_cert, mail_root=postfix.root / "mail")
    yield instance
    instance.stop()
