"""Django's own SMTP backend tests, run against ConfiguredEmailBackend (issue 9).

The tests are taken at run time from the source distribution of the installed
Django (``pip download``): nothing of Django's test suite is copied into this
repository. A small adapter points the stored global configuration at each
test's aiosmtpd server and hands Django's tests our class instead of theirs.
Every remaining difference is listed in INTENDED with its reason (docs/peer-suite.md
has the same list); those tests run as expected failures, so a difference that
disappears is reported too (an "unexpected success" fails the run).

Run: ``python tests/peer_django_smtp.py`` (nox session "peer"). The closing
line reads ``peer: N passed, N failed``.
"""

import os
import subprocess
import sys
import tarfile
import tempfile
import unittest
from pathlib import Path

import django
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
BACKEND = "symfonia_mail.backends.ConfiguredEmailBackend"

# Test name -> why ConfiguredEmailBackend differs on purpose (docs/peer-suite.md).
INTENDED = {
    "test_host_option_required": (
        "a mailer needs no OPTIONS: the server comes from the stored configuration "
        "(DESIGN.md §10, issue 9); one without a server raises ConfigurationIncomplete "
        "when sending"),
    "test_port_default_adapts_to_security": (
        "a port not given keeps the stored configuration's port (backend.port stays "
        "None), instead of Django's 25/465/587 by security"),
    "test_ignores_settings_when_initialized_with_alias": (
        "the same: backend.port is None when no port was given (the stored one applies)"),
    "test_direct_construction_deprecated": (
        "creating ConfiguredEmailBackend(user=...) directly stays supported on 6.1 and "
        "never reads EMAIL_* settings, so there is no deprecation warning and no "
        "'localhost' default"),
    "test_unknown_kwargs_ignored": (
        "the deprecation warning names our class (ConfiguredEmailBackend), the test "
        "expects the name EmailBackend"),
    "test_auth_attempted": (
        "login is our own single-attempt, UTF-8 AUTH in the SMTP dialogue "
        "(smtp_dialogue.py), which the test's mock of smtplib.SMTP.login does not replace"),
    "test_smtp_connection_uses_host_and_port": (
        "the test mocks smtplib.SMTP; we speak SMTP with our own dialogue (deadlines, "
        "pipelining, one login attempt), so the mock is not called"),
    "test_reopen_replaces_partial_connection": (
        "a failed connection or login is not retried within one batch (providers lock "
        "mailboxes after a few failed logins), so no second partial connection exists"),
    "test_send_messages_after_open_failed": (
        "the test replaces open() by a mock; send_messages() connects per configuration "
        "on demand, not through open()"),
    "test_send_messages_zero_sent": (
        "the test sets .connection to a mock; send_messages() starts its own session and "
        "closes it (the message without recipients is not sent: 0, logged as failed)"),
    "test_serialized_message_uses_crlf_line_ending": (
        "the test patches .connection.sendmail(); our .connection is the SMTP dialogue, "
        "which has no sendmail() (CRLF bytes are checked in tests/test_django_versions.py)"),
}


def fetch_django_tests(workdir):
    """Download the installed Django's sdist and extract tests/mail; return tests/."""
    version = django.get_version()
    subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--no-binary", ":all:", f"django=={version}", "-d", str(workdir)],
        check=True,
    )
    [sdist] = Path(workdir).glob("[dD]jango-*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if "/tests/mail/" in m.name]
        tar.extractall(workdir, members=members, filter="data")
    [tests] = Path(workdir).glob("[dD]jango-*/tests")
    return tests


def configure():
    sys.path.insert(0, str(ROOT))
    settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "symfonia_mail"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        SECRET_KEY="peer-tests-only",  # noqa: S106
        USE_TZ=True,
        FIELD_ENCRYPTION_KEY="1kBzrjKphtTwXxtuYXvg43JijZhjSwMQjyEq-Pq_zzY=",
        LOGGING={"version": 1, "disable_existing_loggers": False,  # failures are expected
                 "loggers": {"symfonia_mail": {"handlers": [], "propagate": False}}},
    )
    django.setup()


def point_global_config_at(host, port):
    """The adapter: the stored configuration names the test's server, plain, no login."""
    from symfonia_mail import wait_for_log
    from symfonia_mail.models import GlobalMailConfig

    # The earlier class's MailLog rows first: the log writer's thread may still be writing
    # them, and this in-memory database's shared cache refuses a second writer at once.
    wait_for_log()
    config = GlobalMailConfig.get_solo()
    config.transport, config.host, config.port, config.security = "smtp", host, port, "none"
    config.username = config.password = config.sender_email = config.sender_name = ""
    config.dsn_notify = ""
    config.save()


def peer_classes(test_backends):
    """Return Django's SMTP test classes bound to ConfiguredEmailBackend."""
    from django.utils.module_loading import import_string

    backend_class = import_string(BACKEND)
    base = test_backends.SMTPBackendTests

    class PeerSMTPBackendTests(base):
        databases = {"default"}  # the MailLog rows

        @classmethod
        def setUpClass(cls):
            super().setUpClass()
            point_global_config_at(cls.smtp_controller.hostname, cls.smtp_controller.port)

    PeerSMTPBackendTests.backend_class = backend_class
    intended = {} if os.environ.get("PEER_SHOW_ALL") else INTENDED  # to read each failure
    for name, reason in intended.items():
        if hasattr(base, name):
            test = unittest.expectedFailure(getattr(base, name))
            test.intended_difference = reason
            setattr(PeerSMTPBackendTests, name, test)

    stopped = test_backends.SMTPBackendStoppedServerTests

    class PeerStoppedServerTests(stopped):
        databases = {"default"}

        @classmethod
        def setUpClass(cls):
            super(stopped, cls).setUpClass()  # start the server (SMTPBackendTestsBase)
            host, port = cls.smtp_controller.hostname, cls.smtp_controller.port
            point_global_config_at(host, port)
            cls.backend = backend_class(alias="test_alias", host=host, port=port)
            cls.smtp_controller.stop()

    return [PeerSMTPBackendTests, PeerStoppedServerTests]


def main():
    configure()
    with tempfile.TemporaryDirectory(prefix="django-peer-") as workdir:
        sys.path.insert(0, str(fetch_django_tests(workdir)))
        from django.test.runner import DiscoverRunner
        from mail import test_backends

        runner = DiscoverRunner(verbosity=int(os.environ.get("PEER_VERBOSITY", "1")),
                                interactive=False)
        loader = unittest.TestLoader()
        suite = unittest.TestSuite(
            loader.loadTestsFromTestCase(cls) for cls in peer_classes(test_backends))
        runner.setup_test_environment()
        old_config = runner.setup_databases()
        try:
            result = runner.run_suite(suite)
        finally:
            runner.teardown_databases(old_config)
            runner.teardown_test_environment()
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    intended = sorted(test._testMethodName for test, _ in result.expectedFailures)
    for test in result.unexpectedSuccesses:
        print(f"No longer a difference (remove it from INTENDED): {test._testMethodName}")
    passed = result.testsRun - failed - len(intended) - len(result.skipped)
    print(f"Django {django.get_version()} SMTP backend tests against {BACKEND}: "
          f"{len(intended)} intended differences: {', '.join(intended)}")
    print(f"peer: {passed} passed, {failed} failed")
    return 0 if result.wasSuccessful() and not result.unexpectedSuccesses else 1


if __name__ == "__main__":
    sys.exit(main())
