"""`make demo` runs `manage.py demo`: its setup, sample send, console and the admin it serves."""

import contextlib
import email
import logging
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import threading
import time
from email import policy
from pathlib import Path

import pytest

from .smtpd import free_port
from .test_browser import CHROMIUM, chromium  # noqa: F401 - the Chromium fixture

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_sets_up_and_sends_the_sample_through_the_capture_server(tmp_path):
    result = _manage(_demo_env(tmp_path), "demo", "--no-serve", "--smtp-port", str(free_port()))
    assert result.returncode == 0, result.stderr
    assert "user: admin  password: admin" in result.stdout
    saved = sorted((tmp_path / "var" / "mail").glob("*.eml"))
    assert saved, result.stdout
    first = email.message_from_bytes(saved[0].read_bytes(), policy=policy.default)
    assert first["Subject"] == "Faktura FV/12/2026 dla ACME sp. z o.o."
    assert first["From"] == "Biuro Firma Demo <biuro@firma.example>"
    assert "Jan Kowalski" in first.get_content()  # {wysyłający}: the admin's full name
    assert "RET=HDRS" in first["X-Envelope-From"]
    # Issue 19 (19): one line per capture event, none of aiosmtpd's warnings or tracebacks.
    console = result.stdout + result.stderr
    assert "login_data" not in console and "Traceback" not in console, console
    assert console.count(" saved as ") == len(saved), console
    assert ": connection (EHLO " in console, console


def _demo_env(tmp_path):
    env = {
        **os.environ,
        "DEMO_DB": str(tmp_path / "demo.sqlite3"),
        "DEMO_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
    }
    env.pop("SSL_CERT_FILE", None)  # nothing but the stored configuration trusts the demo CA
    return env


@contextlib.contextmanager
def _serving_demo(env, smtp_port=None):
    """Run ``manage.py demo`` serving the admin; yield its URL once it is up, then stop it."""
    addrport = f"127.0.0.1:{free_port()}"
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--smtp-port", str(smtp_port or free_port()),
         "--addrport", addrport],
        cwd=ROOT / "example_project", env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    reader = None
    try:
        lines = []
        for line in demo.stdout:  # ends when the demo exits; bounded by its own steps
            lines.append(line)
            if "user: admin  password: admin" in line:
                break
        assert any("Admin:" in line for line in lines), "".join(lines)
        # Keep reading what it prints (a full pipe would stop it); the caller may check it.
        reader = threading.Thread(target=lines.extend, args=(demo.stdout,), daemon=True)
        reader.start()
        yield f"http://{addrport}", lines
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=60)
        if reader is not None:
            reader.join(timeout=10)
        demo.stdout.close()


def _manage(env, *args, timeout=600):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT / "example_project",
                          env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_restarting_the_demo_keeps_what_the_user_changed_and_sends_nothing_again(tmp_path):
    # Issue 12 (11).
    env = _demo_env(tmp_path)
    port = str(free_port())
    first = _manage(env, "demo", "--no-serve", "--smtp-port", port)
    assert first.returncode == 0, first.stderr
    sent_first = sorted((tmp_path / "var" / "mail").glob("*.eml"))
    assert len(sent_first) > 1  # the sample and the reminders
    changed = _manage(env, "shell", "-c", (
        "from symfonia_mail.models import GlobalMailConfig as G; c = G.get_solo(); "
        "c.sender_email = 'moje@firma.example'; c.sender_name = 'Moja Nazwa'; c.save()"))
    assert changed.returncode == 0, changed.stderr
    second = _manage(env, "demo", "--no-serve", "--smtp-port", port)
    assert second.returncode == 0, second.stderr
    assert "Existing demo database" in second.stdout
    assert sorted((tmp_path / "var" / "mail").glob("*.eml")) == sent_first  # nothing again
    kept = _manage(env, "shell", "-c", (
        "from symfonia_mail.models import GlobalMailConfig as G; c = G.get_solo(); "
        "print(c.sender_email, c.sender_name, sep='|')"))
    assert kept.stdout.strip().splitlines()[-1] == "moje@firma.example|Moja Nazwa"


@pytest.mark.slow
def test_a_second_process_sends_through_the_running_demo(tmp_path):
    # Issue 12 (3): the capture server's CA is in the stored configuration, so a second
    # terminal (shell send_mail, send_payment_reminders) trusts it without SSL_CERT_FILE.
    env = _demo_env(tmp_path)
    with _serving_demo(env):
        mail_dir = tmp_path / "var" / "mail"
        before = len(list(mail_dir.glob("*.eml")))
        result = _manage(env, "shell", "-c", (
            "from django.core.mail import send_mail; "
            "print(send_mail('Z drugiego terminala', 'b', None, ['klient@kontrahent.example']))"))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith("1"), result.stdout + result.stderr
        reminders = _manage(env, "send_payment_reminders", "--force")
        assert reminders.returncode == 0, reminders.stderr
        assert "CERTIFICATE_VERIFY_FAILED" not in reminders.stdout + reminders.stderr
        assert len(list(mail_dir.glob("*.eml"))) > before + 1


def test_the_capture_server_logs_one_line_per_event(tmp_path, caplog):
    # Issue 19 (19): a client that does not trust the demo CA is one warning naming the CA
    # file, not aiosmtpd's traceback; a login is not aiosmtpd's login_data warning.
    from demo.capture import PASSWORD, USERNAME, CaptureServer

    server = CaptureServer(tmp_path / "mail", free_port(), tmp_path / "ca.pem").start()
    try:
        with caplog.at_level(logging.INFO):
            with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client, \
                    pytest.raises(ssl.SSLCertVerificationError):
                client.starttls(context=ssl.create_default_context())  # the suite's CA only
            with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
                client.starttls(context=ssl.create_default_context(cadata=server.ca_pem))
                client.login(USERNAME, PASSWORD)
                client.sendmail("biuro@firma.example", ["klient@kontrahent.example"],
                                b"Subject: x\r\n\r\nb\r\n")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                    "TLS handshake failed" in r.getMessage() for r in caplog.records):
                time.sleep(0.05)
    finally:
        server.stop()
    ours = [r.getMessage() for r in caplog.records if r.name == "demo.capture"]
    assert [line.split(": ", 1)[1].split(" ")[0] for line in ours] == [
        "connection", "TLS", "connection", "message"], ours
    assert "UNKNOWN_CA" in ours[1] and str(tmp_path / "ca.pem") in ours[1]
    assert "klient@kontrahent.example" in ours[3]
    assert not [r for r in caplog.records if r.exc_info], "no traceback"
    assert not [r for r in caplog.records if "login_data" in r.getMessage()]


def _errors(page):
    """Return what the page says went wrong: its messages and field errors."""
    return [page.inner_text(selector) for selector in (".messagelist", ".errornote",
                                                        ".errorlist")
            if page.locator(selector).count()]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_a_fresh_demos_global_configuration_saves_and_tests_green_untouched(
        tmp_path, chromium):  # noqa: F811 - chromium: the fixture imported from test_browser
    # Issue 19 (1, 18): the demo's own setup on a fresh database, then in Chromium the
    # global configuration as the demo left it: Save (no error, no password asked for)
    # and Test SMTP (every step green); again after a restart (the demo rewrites its CA);
    # the language switch in the header (Django's set_language, a form without script).
    # Polish at 1366x768 on the fresh demo, English at 1920x1080 after the restart.
    env = _demo_env(tmp_path)
    smtp_port = free_port()
    runs = (("fresh", "pl", "en", {"width": 1366, "height": 768}),
            ("restarted", "en", "pl", {"width": 1920, "height": 1080}))
    for start, language, other, viewport in runs:
        with _serving_demo(env, smtp_port) as (base, console):
            context = chromium.new_context(locale=language, viewport=viewport)
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{base}/admin/login/")
            page.fill("#id_username", "admin")
            page.fill("#id_password", "admin")
            page.click("input[type=submit]")
            page.wait_for_url(f"{base}/admin/")
            change = f"{base}/admin/symfonia_mail/globalmailconfig/1/change/"
            page.goto(change)
            assert page.evaluate("document.documentElement.lang") == language
            page.click("input[name=_save]")
            page.wait_for_selector(".messagelist li, .errornote")
            assert page.locator(".errorlist").count() == 0, (start, _errors(page))
            assert page.locator(".messagelist li.success").count() == 1, (start, _errors(page))
            page.goto(change)
            page.click("button[name=_test_smtp]")
            report = page.wait_for_selector(".messagelist li, .errornote")
            assert "success" in report.get_attribute("class"), (start, _errors(page))
            steps = page.locator("li.symfonia-step")
            assert steps.count() >= 5, (start, report.inner_text())
            assert steps.count() == page.locator("li.symfonia-step-ok").count(), (
                start, report.inner_text())
            assert page.locator(".errorlist").count() == 0, start
            # The header's language switch: a plain form posting to set_language.
            switch = page.locator("#demo-language")
            assert switch.locator("script").count() == 0
            assert page.input_value("#demo-language-select") == language
            page.select_option("#demo-language-select", other)
            switch.locator("button[type=submit]").click()
            page.wait_for_url(change)
            assert page.evaluate("document.documentElement.lang") == other
            assert page.input_value("#demo-language-select") == other
            assert page.inner_text("#demo-language button") == {
                "en": "Change language", "pl": "Zmień język"}[other]
            if start == "fresh" and os.environ.get("SYMFONIA_SCREENSHOTS"):
                page.screenshot(path=str(Path(os.environ["SYMFONIA_SCREENSHOTS"]) /
                                         "demo-language-switch.png"))
            context.close()
        assert "Traceback" not in "".join(console), "".join(console)
    stored = _manage(env, "shell", "-c", (
        "from symfonia_mail.models import GlobalMailConfig as G; c = G.get_solo(); "
        "print(c.password == 'demo-password', '\\r' in c.ca_certificates)"))
    assert stored.stdout.strip().splitlines()[-1] == "True False", stored


def test_each_django_version_keeps_its_own_demo_database_and_files():
    # Issue 19 (18): the 5.2 and 6.1 demos side by side must not share db.sqlite3 or var/.
    import django

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "example_project.settings"}
    for name in ("DEMO_DB", "DEMO_VAR_DIR"):
        env.pop(name, None)
    result = _manage(env, "shell", "-c", (
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['NAME'], settings.VAR_DIR, sep='|')"), timeout=120)
    database, var = result.stdout.strip().splitlines()[-1].split("|")
    expected = ROOT / "example_project" / "var" / "django{}.{}".format(*django.VERSION[:2])
    assert Path(var) == expected and Path(database) == expected / "db.sqlite3"
    assert (ROOT / ".gitignore").read_text().count("example_project/var/") == 1


@pytest.mark.slow
def test_the_demo_sends_in_the_background_when_asked(tmp_path):
    # Issue 19 (18): `make demo BACKGROUND=1` (DEMO_BACKGROUND=1): the outbox and the Tasks
    # framework's immediate backend send the sample and the reminders.
    env = {**_demo_env(tmp_path), "DEMO_BACKGROUND": "1"}
    result = _manage(env, "demo", "--no-serve", "--smtp-port", str(free_port()))
    assert result.returncode == 0, result.stderr
    assert "Background sending: on" in result.stdout
    assert str(tmp_path / "var" / "capture-ca.pem") in result.stdout  # where the CA is
    saved = list((tmp_path / "var" / "mail").glob("*.eml"))
    assert saved
    statuses = _manage(env, "shell", "-c", (
        "from symfonia_mail.models import MailLog, OutboxMessage; "
        "print(OutboxMessage.objects.count(), MailLog.objects.filter(status='sent').count())"))
    outbox, sent = statuses.stdout.strip().splitlines()[-1].split()
    assert int(outbox) >= len(saved) and int(sent) == len(saved), statuses


def test_the_demo_extra_has_what_the_demo_imports_and_no_test_tools():
    # Issue 19 (18): `make demo` installs `.[demo]`: every third-party module the example
    # project imports comes from the package's dependencies or that extra; no test tool does.
    import ast
    import tomllib
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    demo = project["optional-dependencies"]["demo"]
    installed = {Requirement(r).name.lower() for r in [*project["dependencies"], *demo]}
    local = {path.name for path in (ROOT / "example_project").iterdir()} | {"symfonia_mail"}
    imported = set()
    for path in (ROOT / "example_project").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - local
    owners = packages_distributions()
    missing = {module for module in third_party
               if not {d.lower() for d in owners.get(module, [module])} & installed}
    assert not missing, missing
    test_tools = {"pytest", "pytest-django", "mypy", "pylint", "playwright", "nox", "ruff",
                  "django-stubs", "psycopg", "time-machine", "build"}
    assert not {Requirement(r).name.lower() for r in demo} & test_tools
