"""Migrate a SQLite file in its own process, optionally with another migrations folder.

    python tests/migrate_child.py DB [MIGRATIONS_DIR]

MIGRATIONS_DIR (a folder of migration files, e.g. one taken from git history) replaces
symfonia_mail/migrations for this run. Prints the plan it applied as JSON: a list of
"app.migration" names.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(db_path, migrations_dir=""):
    import django
    from django.conf import settings

    modules = {}
    if migrations_dir:
        folder = Path(migrations_dir)
        sys.path.insert(0, str(folder.parent))
        modules["symfonia_mail"] = folder.name
    settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "symfonia_mail"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db_path}},
        MIGRATION_MODULES=modules,
        FIELD_ENCRYPTION_KEY="1kBzrjKphtTwXxtuYXvg43JijZhjSwMQjyEq-Pq_zzY=",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField", USE_TZ=True,
    )
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    call_command("migrate", verbosity=0)
    print(json.dumps([f"{m.app_label}.{m.name}" for m, _backwards in plan]))


if __name__ == "__main__":
    main(*sys.argv[1:])
