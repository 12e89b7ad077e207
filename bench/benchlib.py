"""What the benchmarks share: a Django set-up on a SQLite file, and timing helpers."""

import multiprocessing
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

KEY = "1kBzrjKphtTwXxtuYXvg43JijZhjSwMQjyEq-Pq_zzY="  # a throwaway Fernet key


def setup_django(db_path, *, admin=False, urlconf=None, caches=None, symfonia_mail=None,
                 wal=False, database=None):
    """Configure Django on the SQLite file *db_path* and migrate it.

    *wal*: write-ahead log with ``synchronous=NORMAL`` (the usual production set-up
    of SQLite: a commit does not wait for the disk). *database*: another DATABASES
    entry instead (e.g. PostgreSQL).
    """
    import django
    from django.conf import settings

    apps = ["django.contrib.auth", "django.contrib.contenttypes", "symfonia_mail"]
    extra = {}
    if admin:
        apps = ["django.contrib.admin", "django.contrib.sessions", "django.contrib.messages",
                "django.contrib.staticfiles", *apps]
        extra = {
            "MIDDLEWARE": [
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.middleware.common.CommonMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
                "symfonia_mail.middleware.CurrentUserMiddleware",
                "django.contrib.messages.middleware.MessageMiddleware",
            ],
            "TEMPLATES": [{
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]},
            }],
            "STATIC_URL": "/static/", "ROOT_URLCONF": urlconf, "SECRET_KEY": "bench",
            "ALLOWED_HOSTS": ["testserver"],
            "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
        }
    if caches:
        extra["CACHES"] = caches
    settings.configure(
        INSTALLED_APPS=apps,
        DATABASES={"default": database or {
            "ENGINE": "django.db.backends.sqlite3", "NAME": db_path,
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
            if wal else {},
        }},
        FIELD_ENCRYPTION_KEY=KEY, DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        EMAIL_BACKEND="symfonia_mail.backends.ConfiguredEmailBackend",
        USE_TZ=True, LANGUAGE_CODE="en", DEFAULT_FROM_EMAIL="webmaster@localhost",
        SYMFONIA_MAIL=symfonia_mail or {}, **extra,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def median_ms(func, repeat):
    """Return the median wall time of *func* over *repeat* calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def serve_in_child(serve, *args, timeout=10, what="server"):
    """Run ``serve(port, ready, *args)`` in a daemon process on a free 127.0.0.1 port.

    Return (process, port) once *serve* has set the *ready* event; a server that is
    not ready within *timeout* seconds is terminated and RuntimeError raised.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ready = multiprocessing.Event()
    process = multiprocessing.Process(target=serve, args=(port, ready, *args), daemon=True)
    process.start()
    if not ready.wait(timeout):
        process.terminate()
        raise RuntimeError(f"{what} did not start")
    return process, port
