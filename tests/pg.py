"""A throwaway PostgreSQL server on 127.0.0.1 for the worker tests and benchmarks.

Debian's ``postgresql`` package; ``initdb`` and ``pg_ctl`` refuse to run as
root (CI runs as root), so they run as the ``postgres`` user on a data
directory that user owns. Ephemeral port, no fsync, stopped by ``stop()``.
"""

import glob
import os
import shutil
import subprocess
import tempfile
import time

from .smtpd import free_port


def bin_dir():
    """Return the directory of PostgreSQL's server binaries, or None if not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


def _as_postgres(*command):
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return [*prefix, *command]


class PostgresServer:
    """A started PostgreSQL cluster with one database; stop() removes it."""

    host = "127.0.0.1"
    user = "postgres"
    name = "symfonia"

    def __init__(self, *, durable=False):
        """Start a cluster; *durable*: fsync and synchronous commits (production's defaults).

        The tests run without them (faster, nothing to keep); a benchmark of commits
        needs them, or a commit would cost what no real server charges.
        """
        binaries = bin_dir()
        if binaries is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = binaries
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="symfonia-pg-")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        subprocess.run(_as_postgres(
            f"{self.bin}/initdb", "-D", self.data, "-A", "trust", "-U", self.user,
            "--no-sync", "-E", "UTF8"), check=True, capture_output=True, timeout=120)
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=100")
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(_as_postgres(
            f"{self.bin}/pg_ctl", "-D", self.data, "-o", options, "-l",
            os.path.join(self.dir, "log"), "-w", "-t", "60", "start"),
            check=True, capture_output=True, timeout=120)
        self._create_database()

    def _create_database(self):
        deadline = time.monotonic() + 30
        while True:
            done = subprocess.run(
                [f"{self.bin}/createdb", "-h", self.host,
                 "-p", str(self.port), "-U", self.user, self.name],
                capture_output=True, timeout=60)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(done.stderr.decode())
            time.sleep(0.2)

    def env(self):
        """Return the environment variables tests/settings_pg.py reads."""
        return {"SYMFONIA_PG_HOST": self.host, "SYMFONIA_PG_PORT": str(self.port),
                "SYMFONIA_PG_NAME": self.name, "SYMFONIA_PG_USER": self.user}

    def stop(self):
        try:
            subprocess.run(_as_postgres(f"{self.bin}/pg_ctl", "-D", self.data, "-m",
                                        "immediate", "-w", "stop"),
                           capture_output=True, timeout=60)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
