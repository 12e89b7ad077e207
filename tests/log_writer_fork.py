"""A fork while the log writer still has rows (tests/test_maillog.py).

``python -m tests.log_writer_fork DB``: on a file SQLite database whose write lock
another connection holds, hand 3 rows to the log writer, fork, and print what the
child has waiting (its parent's rows are not its own: 0); the child exits normally
(its exit waits for its own rows: none). Then release the lock and print how many
rows the database holds (3: written once, by the parent).
"""

import os
import sqlite3
import sys


def main(path):
    os.environ["SYMFONIA_TEST_DB"] = path
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings_file_db"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from symfonia_mail.models import MailLog
    from symfonia_mail.pending_log import pending
    from symfonia_mail.tracking.log_writer import wait_for_log, writer
    from symfonia_mail.tracking.maillog import LogEntry

    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the writer must wait: its rows stay pending
    entries = [LogEntry(scope="global", transport="smtp", server="s:25", subject=f"Nr {n}",
                        status="sent", recipients=f"k{n}@example.com") for n in range(3)]
    assert writer.takes(entries)
    child = os.fork()
    if child == 0:
        print(f"child-waiting={pending.waiting()}", flush=True)
        sys.exit(0)
    _pid, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    lock.execute("ROLLBACK")
    assert wait_for_log(30)
    print(f"rows={MailLog.objects.count()}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
