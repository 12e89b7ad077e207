"""The freshness check: one primary-key query per connection, none with a shared cache.

A saved change must still be seen by the next connection in every process
(docs/integrator-guide.md "How a message goes out", no grace period): proven with two
real processes sharing a SQLite file and a file-based cache.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from symfonia_mail.config import resolver
from symfonia_mail.models import GlobalMailConfig

CHILD = Path(__file__).with_name("revision_child.py")


def session_queries():
    with CaptureQueriesContext(connection) as captured:
        resolver.Session()
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.django_db
def test_without_a_shared_cache_the_check_is_one_primary_key_query():
    resolver.bump_revision()
    # The test settings have Django's default per-process cache: it cannot carry the token.
    [sql] = session_queries()
    assert "configrevision" in sql and "WHERE" in sql and '"id" = ' in sql


@pytest.fixture
def file_cache(settings, tmp_path):
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(tmp_path / "cache")}}
    yield
    from django.core.cache import caches

    caches["default"].clear()


@pytest.mark.django_db(transaction=True)
def test_a_shared_cache_holds_the_revision_and_a_save_updates_it(file_cache):
    config = GlobalMailConfig.get_solo()
    config.host = "old.example.com"
    config.save()
    assert resolver.Session().config_for(None).host == "old.example.com"
    assert session_queries() == []  # the token came from the cache
    config.host = "new.example.com"
    config.save()
    assert session_queries() == []  # the save put its token there on commit
    assert resolver.Session().config_for(None).host == "new.example.com"


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_save_never_reaches_the_cache(file_cache):
    config = GlobalMailConfig.get_solo()
    config.host = "kept.example.com"
    config.save()
    token = resolver.current_token()
    with transaction.atomic():
        config.host = "rolled-back.example.com"
        config.save()
        transaction.set_rollback(True)
    assert resolver.current_token() == token
    assert resolver.Session().config_for(None).host == "kept.example.com"


@pytest.mark.parametrize("shared", [True, False], ids=["file cache", "no shared cache"])
def test_a_save_in_another_process_is_seen_by_the_next_connection(tmp_path, shared):
    db, cache = str(tmp_path / "shared.sqlite3"), str(tmp_path / "cache")
    env_args = [db, cache]
    subprocess.run([sys.executable, str(CHILD), *env_args, "write", "first.example.com"],
                   check=True, timeout=120, capture_output=True)
    if not shared:
        env_args = [db, ""]  # no cache directory: see the child's set-up below
    reader = subprocess.Popen(
        [sys.executable, str(CHILD), *env_args, "read"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        warm = json.loads(reader.stdout.readline())
        again = json.loads(reader.stdout.readline())
        subprocess.run([sys.executable, str(CHILD), *env_args, "write", "second.example.com"],
                       check=True, timeout=120, capture_output=True)
        reader.stdin.write("go\n")
        reader.stdin.flush()
        after = json.loads(reader.stdout.readline())
    finally:
        reader.stdin.close()
        reader.wait(60)
    assert warm["host"] == again["host"] == "first.example.com"
    assert after["host"] == "second.example.com"  # no grace period
    assert again["queries"] == (0 if shared else 1)
    assert after["queries"] == (0 if shared else 1) + 1  # + reloading the changed configuration
