"""The squashed migrations: fresh, seed and development-snapshot databases end up alike.

Each database is a SQLite file migrated in its own process (tests/migrate_child.py); the
old migrations come from the repository's history, as those databases applied them.
"""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).with_name("migrate_child.py")
FOLDER = "symfonia_mail/migrations"
# The first 0.1.0 seed databases: 0001_initial .. 0004_template_body_size.
SEED = "0970c15"
# Yesterday's development snapshot: 0001_squashed_0004 and 0005_release_contract .. 0009.
SNAPSHOT = "c645ef2"
SQUASHES = {"0001_squashed_0004_template_body_size", "0005_squashed_0009_oauth_state"}


def old_migrations(commit, tmp_path):
    """Write the migrations folder of commit into tmp_path; return the folder."""
    try:
        names = subprocess.run(
            ["git", "-C", str(REPO), "ls-tree", "--name-only", f"{commit}:{FOLDER}"],
            check=True, capture_output=True, text=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"needs the repository's git history ({exc})")
    folder = tmp_path / f"migrations_{commit}"
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(subprocess.run(
            ["git", "-C", str(REPO), "show", f"{commit}:{FOLDER}/{name}"],
            check=True, capture_output=True,
        ).stdout)
    return folder


def migrate(db, migrations_dir=""):
    """Migrate db in a child process; return the symfonia_mail migrations it applied."""
    done = subprocess.run(
        [sys.executable, str(CHILD), str(db), str(migrations_dir)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [name.split(".", 1)[1] for name in json.loads(done.stdout)
            if name.startswith("symfonia_mail.")]


def schema(db):
    """Return tables, columns, indexes and foreign keys of db (column order aside)."""
    with sqlite3.connect(db) as con:
        tables = [row[0] for row in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' AND name != 'django_migrations'"
        )]
        result = {}
        for table in tables:
            indexes = []
            for _seq, name, unique, _origin, partial in con.execute(
                f'PRAGMA index_list("{table}")'
            ):
                columns = [row[2] for row in con.execute(f'PRAGMA index_info("{name}")')]
                # SQLite numbers its own unique-constraint indexes in creation order.
                shown = "" if name.startswith("sqlite_autoindex") else name
                indexes.append((shown, unique, partial, tuple(columns)))
            result[table] = {
                "columns": sorted(row[1:] for row in con.execute(f'PRAGMA table_info("{table}")')),
                "indexes": sorted(indexes),
                "foreign_keys": sorted(row[2:5] for row in con.execute(
                    f'PRAGMA foreign_key_list("{table}")'
                )),
            }
    return result


def recorded(db):
    with sqlite3.connect(db) as con:
        return {row[0] for row in con.execute(
            "SELECT name FROM django_migrations WHERE app = 'symfonia_mail'"
        )}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    db = tmp_path_factory.mktemp("fresh") / "db.sqlite3"
    applied = migrate(db)
    return db, applied


def test_a_fresh_database_applies_the_two_squashed_migrations(fresh):
    db, applied = fresh
    assert applied[:2] == sorted(SQUASHES)
    assert SQUASHES <= recorded(db)
    assert "symfonia_mail_outboxmessage" in schema(db)


def test_a_seed_database_applies_the_second_squash_and_numbers_forced_resends(fresh, tmp_path):
    db = tmp_path / "seed.sqlite3"
    assert migrate(db, old_migrations(SEED, tmp_path)) == [
        "0001_initial", "0002_reminder_record", "0003_attachment_password_help",
        "0004_template_body_size",
    ]
    with sqlite3.connect(db) as con:  # a reminder sent, then sent again by force that day
        con.executemany(
            "INSERT INTO symfonia_mail_reminderrecord (contractor_key, contractor_name, "
            "documents, documents_digest, sent_on, sent_at, recipients, message_id) "
            "VALUES ('sales.contractor:1', 'ACME', 'FV/1', 'abc', '2026-11-02', ?, '', '')",
            [("2026-11-02 08:00:00",), ("2026-11-02 09:00:00",)],
        )

    applied = migrate(db)

    assert applied[0] == "0005_squashed_0009_oauth_state"  # and what main added since
    assert "0001_squashed_0004_template_body_size" not in applied
    assert schema(db) == schema(fresh[0])
    assert SQUASHES <= recorded(db)
    with sqlite3.connect(db) as con:
        resends = [row[0] for row in con.execute(
            "SELECT resend FROM symfonia_mail_reminderrecord ORDER BY sent_at"
        )]
    assert resends == [0, 1]


def test_a_snapshot_database_applies_neither_squash(fresh, tmp_path):
    db = tmp_path / "snapshot.sqlite3"
    assert migrate(db, old_migrations(SNAPSHOT, tmp_path))[-5:] == [
        "0005_release_contract", "0006_reminder_claim", "0007_background_outbox",
        "0008_maillog_admin_indexes", "0009_oauth_state",
    ]

    applied = migrate(db)

    assert not SQUASHES & set(applied)  # only what main added since
    assert schema(db) == schema(fresh[0])
    assert "0005_squashed_0009_oauth_state" in recorded(db)
