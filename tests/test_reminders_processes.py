"""Two reminder runs in two OS processes at once: every contractor gets exactly one message.

A real race: two Python processes on one database (a file SQLite database,
whose writers wait for each other's lock, and a PostgreSQL server), started
together on the same contractors, sending to one loopback SMTP server.
"""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from .pg import PostgresServer
from .reminder_race import REFUSED
from .smtpd import SMTPServer

ROOT = Path(__file__).resolve().parent.parent
CONTRACTORS = 30


def python(*args, env, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "tests.reminder_race", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_env(request, tmp_path):
    """The environment that points tests/settings_file_db.py at the shared database."""
    if request.param == "sqlite":
        yield {"SYMFONIA_TEST_DB": str(tmp_path / "db.sqlite3")}
        return
    postgres = PostgresServer()  # raises with the reason when it cannot start
    try:
        yield postgres.env()
    finally:
        postgres.stop()


def test_two_processes_at_once_send_each_contractor_exactly_one_reminder(tmp_path, database_env):
    server = SMTPServer(tls=None, dsn=False, refuse_rcpt={REFUSED: "550 5.1.1 User unknown"})
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SYMFONIA_PG_")}
    env = {**inherited, **database_env, "DJANGO_SETTINGS_MODULE": "tests.settings_file_db"}
    processes = []
    try:
        processes.append(python("setup", str(server.port), env=env))
        _out, err = processes[0].communicate(timeout=120)
        assert processes[0].returncode == 0, err
        go = tmp_path / "go"
        runs = [python("run", str(tmp_path / f"ready{n}"), str(go), str(CONTRACTORS), env=env)
                for n in range(2)]
        processes += runs
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready{n}").exists() for n in range(2)):
            assert time.monotonic() < deadline, "the runs did not start"
            assert all(run.poll() is None for run in runs), runs[0].stderr.read()
            time.sleep(0.01)
        go.touch()  # both are set up and waiting: they start together
        reports = []
        for run in runs:
            out, err = run.communicate(timeout=120)
            assert run.returncode == 0, err
            reports.append([json.loads(line) for line in out.splitlines()])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        server.stop()

    # Every contractor got exactly one message, the refused address none.
    delivered = Counter(rcpt for message in server.messages for rcpt in message.rcpt_tos)
    assert delivered == Counter({f"k{n}@kontrahent.example": 1 for n in range(CONTRACTORS)})
    # Both runs report every contractor; per contractor one run sent, the other skipped.
    for report in reports:
        assert [row["key"] for row in report] == [f"race:{n}" for n in range(CONTRACTORS)]
    for first, second in zip(*reports, strict=True):
        assert sorted([first["status"], second["status"]]) in (
            ["sent", "skipped"], ["partial", "skipped"]), (first, second)
        skipped = first if first["status"] == "skipped" else second
        assert skipped["reason"], skipped
    counts = [Counter(row["status"] for row in report) for report in reports]
    total = counts[0] + counts[1]
    assert total == Counter(sent=CONTRACTORS - 1, partial=1, skipped=CONTRACTORS)
    partial = next(row for report in reports for row in report if row["status"] == "partial")
    assert partial["refused"] == [REFUSED]
