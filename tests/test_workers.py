"""Background sending on real parts: PostgreSQL, django-tasks-db ``db_worker`` processes
and loopback SMTP servers that fail, die and come back.

Every message must end sent exactly once (counted by Message-ID at the server) or
``unknown``; nothing lost, nothing doubled. Marked ``postgres``: they start a server and
worker processes (about a minute in all), so a multi-version run can keep them to one
Django version (``-m "not postgres"`` on the others).
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from .pg import PostgresServer, bin_dir
from .smtpd import SMTPServer

ROOT = Path(__file__).resolve().parent.parent
FINAL = {"sent", "partial", "failed", "unknown", "cancelled"}

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(bin_dir() is None, reason="PostgreSQL is not installed"),
]


@pytest.fixture(scope="module")
def postgres():
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


class Project:
    """The test project on PostgreSQL, driven through subprocesses (tests/pg_tool.py)."""

    def __init__(self, postgres, **env):
        self.env = {**os.environ, **postgres.env(), **env,
                    "DJANGO_SETTINGS_MODULE": "tests.settings_pg", "PYTHONPATH": str(ROOT)}
        self.workers = []

    def tool(self, *args):
        done = subprocess.run([sys.executable, "-m", "tests.pg_tool", *map(str, args)],
                              cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    def start_worker(self):
        worker = subprocess.Popen(
            [sys.executable, "-m", "django", "db_worker", "--interval", "0.05",
             "--no-startup-delay"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.workers.append(worker)
        return worker

    def stop_workers(self):
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)

    def wait_until_final(self, timeout, sweep_every=None):
        """Wait until no row is queued, sending or waiting to retry; return the state."""
        deadline = time.monotonic() + timeout
        last_sweep = time.monotonic()
        while True:
            state = self.tool("state")
            if set(state["counts"]) <= FINAL:
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"not finished: {state['counts']}")
            if sweep_every and time.monotonic() - last_sweep > sweep_every:
                self.tool("sweep")
                last_sweep = time.monotonic()
            time.sleep(0.5)


@pytest.fixture
def project(postgres):
    project = Project(postgres)
    project.tool("migrate")
    yield project
    project.stop_workers()
    subprocess.run([sys.executable, "-m", "django", "flush", "--no-input"], cwd=ROOT,
                   env=project.env, capture_output=True, timeout=120, check=True)


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def received_ids(*servers):
    return Counter(m.message["Message-ID"] for server in servers for m in server.messages)


def check_exactly_once(state, received):
    """Every sent row reached the server once; unknown at most once; nothing else did."""
    by_id = {row[3]: row[1] for row in state["rows"]}
    assert set(received) <= set(by_id), "the server got a message that is not logged"
    assert max(received.values(), default=1) == 1, f"doubled: {received.most_common(3)}"
    for message_id, status in by_id.items():
        if status == "sent":
            assert received[message_id] == 1, f"{message_id} logged sent, not received"
        else:
            assert status == "unknown", f"{message_id} ended {status}"


def test_workers_retry_451_and_outlive_a_server_that_dies(project):
    server = SMTPServer(tls=None, data_replies=["451 4.3.0 Try again later"] * 2)
    running = [server]
    try:
        project.tool("configure", server.port)
        project.start_worker()
        project.start_worker()
        assert project.tool("enqueue", 40)["sent"] == 40
        wait_for(lambda: len(server.messages) >= 12, 60)
        running.pop().stop()  # killed mid-run: connections refused or cut
        time.sleep(1.0)
        running.append(SMTPServer(tls=None, port=server.port))
        state = project.wait_until_final(120)
    finally:
        for each in running:
            each.stop()
    received = received_ids(server, *running)
    check_exactly_once(state, received)
    assert state["counts"].get("sent", 0) >= 38  # at most the cut ones are unknown
    assert sum(received.values()) == state["counts"]["sent"] + sum(
        1 for row in state["rows"] if row[1] == "unknown" and received[row[3]])
    assert server.handler.data_attempts > len(server.messages)  # the two 451s were met
    assert max(row[2] for row in state["rows"]) >= 2  # and retried on the same row


def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(postgres):
    project = Project(postgres, SYMFONIA_STALE_AFTER="3")
    project.tool("migrate")
    server = SMTPServer(tls=None, data_delay=0.05)
    try:
        project.tool("configure", server.port)
        victim = project.start_worker()
        project.start_worker()
        project.tool("enqueue", 60)
        wait_for(lambda: len(server.messages) >= 15, 60)
        victim.send_signal(signal.SIGKILL)  # no clean-up at all, mid-send most likely
        victim.wait(timeout=10)
        project.start_worker()
        state = project.wait_until_final(120, sweep_every=4)
    finally:
        project.stop_workers()
        server.stop()
        subprocess.run([sys.executable, "-m", "django", "flush", "--no-input"], cwd=ROOT,
                       env=project.env, capture_output=True, timeout=120)
    received = received_ids(server)
    check_exactly_once(state, received)
    assert len(state["rows"]) == 60
    assert state["counts"].get("unknown", 0) <= 1  # only the message the victim held


def test_processes_sharing_a_rate_limit_never_take_more_than_it(project):
    # Four processes at once, ten attempts each, all within the same second: the lock
    # row makes them take turns, so exactly the limit's worth of slots is handed out.
    moment = "2026-01-05T12:00:30+00:00"
    start = time.time() + 4  # every process connected and waiting by then
    processes = [subprocess.Popen(
        [sys.executable, "-m", "tests.pg_tool", "take", "10", "25", str(start), moment],
        cwd=ROOT, env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1])["taken"])
    assert sum(results) == 25, results
