"""Run test work in threads, each with its own database connection closed at its end."""

import threading


def in_threads(count, work, timeout=300):
    """Run ``work(n)`` for n in range(*count*) in threads at once; return their errors."""
    from django.db import connection

    errors = []

    def run(number):
        try:
            work(number)
        except Exception as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return errors
