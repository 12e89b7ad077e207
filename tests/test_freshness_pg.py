"""The freshness connection on PostgreSQL: the query leaves early, a save is still seen.

A real PostgreSQL (Debian's package, tests/pg.py) and two real SMTP servers on
127.0.0.1; the project runs in a child process on it (tests/freshness_pg_child.py).
"""

import json
import os
import subprocess
import sys

import pytest

from .smtpd import CountingServer
from .test_workers import ROOT, postgres, pytestmark  # noqa: F401 - the PostgreSQL tests' own


@pytest.fixture(scope="module")
def run(postgres):  # noqa: F811
    servers = CountingServer(), CountingServer()
    try:
        env = {**os.environ, **postgres.env(), "DJANGO_SETTINGS_MODULE": "tests.settings_pg",
               "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-m", "tests.freshness_pg_child", *(str(s.port) for s in servers)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        yield json.loads(done.stdout.strip().splitlines()[-1]), servers
    finally:
        for server in servers:
            server.stop()


def test_django_s_connection_is_not_asked_once_the_freshness_connection_is_there(run):
    result, _servers = run
    calls = {call["subject"]: call for call in result["calls"]}
    assert all(call["sent"] == 1 for call in calls.values())
    assert calls["pierwsza"]["django_token_queries"] == 1  # nothing cached: asked at once
    for subject in ("druga", "trzecia", "czwarta", "znowu"):
        assert calls[subject]["django_token_queries"] == 0, subject
        assert calls[subject]["reader_pid"] is not None


def test_a_save_elsewhere_is_seen_by_the_next_call(run):
    result, (before, after) = run
    assert result["servers"]["druga"] == f"127.0.0.1:{before.port}"
    assert result["servers"]["trzecia"] == f"127.0.0.1:{after.port}"
    assert before.handler.messages == 2 and after.handler.messages == 11


def test_answers_read_away_or_lost_fall_back_to_django_s_connection(run):
    result, _servers = run
    calls = {call["subject"]: call for call in result["calls"]}
    # The outer call's answer was read by the nested one: it asked Django's connection.
    assert calls["zewnętrzna"]["django_token_queries"] == 1
    assert result["servers"]["wewnętrzna"] == result["servers"]["zewnętrzna"]
    # A terminated freshness connection: that call asked Django's, the next has a new one.
    assert calls["po zerwaniu"]["django_token_queries"] == 1
    assert calls["znowu"]["reader_pid"] not in (None, calls["zewnętrzna"]["reader_pid"])


def test_a_thread_that_ended_leaves_no_connection_behind(run):
    result, _servers = run
    calls = {call["subject"]: call for call in result["calls"]}
    assert calls["z wątku"]["reader_pid"] is not None
    assert calls["z drugiego wątku"]["reader_pid"] not in (None, calls["z wątku"]["reader_pid"])
    # Closed when the next thread's reader was made (the pid is gone from pg_stat_activity).
    assert result["ended_thread_pid"] == calls["z wątku"]["reader_pid"]


def test_a_forked_child_neither_uses_nor_ends_the_parent_s_freshness_connection(run):
    result, _servers = run
    calls = {call["subject"]: call for call in result["calls"]}
    assert result["forked_child_status"] == 0  # it sent on a connection of its own
    assert "w dziecku" in result["servers"]
    # The parent's connection survived the child's exit and collection: asked, not replaced.
    after_fork = calls["po rozwidleniu"]
    assert after_fork["django_token_queries"] == 0
    assert after_fork["reader_pid"] == calls["przed rozwidleniem"]["reader_pid"]
