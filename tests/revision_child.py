"""One process of the cross-process freshness test (tests/test_revision.py).

    python tests/revision_child.py DB CACHE_DIR read    # print the host, wait, print again
    python tests/revision_child.py DB CACHE_DIR write HOST

Both share a SQLite file and a file-based cache (a cache every process sees).
The reader prints one JSON line per connection: the host it resolved and the
queries that connection's freshness check and resolution made.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def setup(db_path, cache_dir):
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "symfonia_mail"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db_path}},
        # An empty CACHE_DIR: Django's default per-process cache (no shared revision).
        CACHES={"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                            "LOCATION": cache_dir}} if cache_dir else
        {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        FIELD_ENCRYPTION_KEY="1kBzrjKphtTwXxtuYXvg43JijZhjSwMQjyEq-Pq_zzY=",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField", USE_TZ=True,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def connection_sees():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from symfonia_mail.config import resolver

    with CaptureQueriesContext(connection) as captured:
        host = resolver.Session().config_for(None).host
    return {"host": host, "queries": len(captured.captured_queries)}


def main():
    db_path, cache_dir, mode = sys.argv[1:4]
    setup(db_path, cache_dir)
    if mode == "write":
        from symfonia_mail.models import GlobalMailConfig

        config = GlobalMailConfig.get_solo()
        config.host = sys.argv[4]
        config.save()
        return
    print(json.dumps(connection_sees()), flush=True)  # warm: the process cache is filled
    print(json.dumps(connection_sees()), flush=True)
    sys.stdin.readline()  # the other process saves meanwhile
    print(json.dumps(connection_sees()), flush=True)


if __name__ == "__main__":
    main()
