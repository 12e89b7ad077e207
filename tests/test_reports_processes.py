"""Two processes applying the same reports at once record each event once.

A real race on one shared database (a file SQLite database and a PostgreSQL
server): both processes apply the same bounce and success reports of the same
messages, started together.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .test_reminders_processes import database_env  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = 15


def child(*args, env):
    return subprocess.Popen([sys.executable, "-m", "tests.report_race", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_applying_the_same_reports_record_each_event_once(
        tmp_path, database_env):  # noqa: F811
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SYMFONIA_PG_")}
    env = {**inherited, **database_env, "DJANGO_SETTINGS_MODULE": "tests.settings_file_db"}
    reports = tmp_path / "reports"
    reports.mkdir()
    processes = [child("setup", str(MESSAGES), str(reports), env=env)]
    try:
        _out, err = processes[0].communicate(timeout=120)
        assert processes[0].returncode == 0, err
        go = tmp_path / "go"
        runs = [child("run", str(tmp_path / f"ready{n}"), str(go), str(reports), env=env)
                for n in range(2)]
        processes += runs
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready{n}").exists() for n in range(2)):
            assert time.monotonic() < deadline, "the processes did not start"
            assert all(run.poll() is None for run in runs), runs[0].stderr.read()
            time.sleep(0.01)
        go.touch()
        signals = []
        for run in runs:
            out, err = run.communicate(timeout=120)
            assert run.returncode == 0, err
            signals += [json.loads(line) for line in out.splitlines()]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    # Each (message, recipient) event was signalled once, by one process or the other.
    keys = [(s["envelope_id"], s["recipient"], s["action"]) for s in signals]
    assert sorted(keys) == sorted(
        {(f"race{n}", "a@example.com", "failed") for n in range(MESSAGES)}
        | {(f"race{n}", "b@example.com", "delivered") for n in range(MESSAGES)})
    check = subprocess.run(
        [sys.executable, "-c", (
            "import django, json; django.setup();"
            "from symfonia_mail.models import DeliveryEvent, MailLog;"
            "print(json.dumps([DeliveryEvent.objects.count(),"
            " sorted(set(MailLog.objects.values_list('delivery', flat=True)))]))")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    events, deliveries = json.loads(check.stdout)
    assert events == 2 * MESSAGES
    assert deliveries == ["partly_bounced"]
