"""send_mail on PostgreSQL with the freshness connection (tests/test_freshness_pg.py).

    DJANGO_SETTINGS_MODULE=tests.settings_pg python -m tests.freshness_pg_child PORT_A PORT_B

Sends through the server on PORT_A, lets "another process" move the configuration
to PORT_B, and sends again, recording for each call the freshness queries
Django's own connection ran and the freshness connection's server process.
Prints one JSON line.
"""

import gc
import json
import os
import sys
import threading
import time
import uuid


def main(port_a, port_b):
    import django

    django.setup()
    from django.core.mail import send_mail
    from django.core.management import call_command
    from django.db import connection, connections
    from django.test.utils import CaptureQueriesContext, override_settings

    from symfonia_mail import wait_for_log
    from symfonia_mail.config import freshness_connection, resolver
    from symfonia_mail.models import ConfigRevision, GlobalMailConfig, MailLog
    from symfonia_mail.signals import pre_send

    call_command("migrate", verbosity=0)
    override_settings(SYMFONIA_MAIL={"KEEP_ALIVE": 30}).enable()  # sent now, not queued
    config = GlobalMailConfig.get_solo()
    config.host, config.port, config.security = "127.0.0.1", port_a, "none"
    config.username = config.password = ""
    config.sender_email, config.timeout_ms = "biuro@firma.example", 5000
    config.save()
    calls = []

    def send(subject):
        with CaptureQueriesContext(connection) as captured:
            sent = send_mail(subject, "Treść", None, ["klient@example.com"])
        reader = freshness_connection._readers.by_thread.get(
            (threading.get_ident(), "default"))
        pid = None
        if reader is not None and reader.wrapper.connection is not None:
            pid = reader.wrapper.connection.pgconn.backend_pid
        calls.append({"subject": subject, "sent": sent, "reader_pid": pid,
                      "django_token_queries": sum(
                          ConfigRevision._meta.db_table in q["sql"]
                          for q in captured.captured_queries)})

    send("pierwsza")  # resolves and checks on Django's connection: nothing cached yet
    send("druga")  # the check on the freshness connection
    # Another process's save: the database changes, this process is not told.
    GlobalMailConfig.objects.filter(pk=config.pk).update(port=port_b)
    ConfigRevision.objects.filter(pk=1).update(token=uuid.uuid4().hex)
    send("trzecia")
    # A session that never needed its answer leaves it in flight: the next one reads it away.
    resolver.Session(deferred=True)
    send("czwarta")

    # A send_mail inside a pre_send receiver reads the outer call's answer away.
    def nested(sender, message, **kwargs):
        if message.subject == "zewnętrzna":
            send_mail("wewnętrzna", "Treść", None, ["klient@example.com"])

    pre_send.connect(nested, dispatch_uid="nested")
    send("zewnętrzna")
    pre_send.disconnect(dispatch_uid="nested")
    # The database ends the freshness connection: the next call asks Django's connection.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [calls[-1]["reader_pid"]])
    send("po zerwaniu")
    send("znowu")

    # A thread that sent and ended: the next new thread's reader closes its connection.
    def in_a_thread(subject):
        thread = threading.Thread(target=lambda: (send(subject), connections.close_all()))
        thread.start()
        thread.join(30)
        return thread.ident

    ident = in_a_thread("z wątku")
    # The next thread may get the same identifier (the system reuses them) and so the same
    # reader; moved to one no thread has, it stands for a thread that ended for good.
    readers = freshness_connection._readers.by_thread
    readers[(-1, "default")] = readers.pop((ident, "default"))
    in_a_thread("z drugiego wątku")
    ended_pid = calls[-2]["reader_pid"]
    for _ in range(200):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [ended_pid])
            if not cursor.fetchone()[0]:
                break
        time.sleep(0.01)
    else:
        ended_pid = "still connected"
    # A forked child (a preforking server's worker) has its own freshness connection, and
    # its exit, collecting the parent's, leaves the parent's session alone.
    send("przed rozwidleniem")
    assert wait_for_log()
    connections.close_all()  # as a preforking server does before it forks
    child = os.fork()
    if child == 0:
        code = 1
        try:
            send("w dziecku")
            code = 0 if calls[-1]["reader_pid"] not in (None, calls[-2]["reader_pid"]) else 2
            assert wait_for_log()
            connections.close_all()
        finally:
            gc.collect()
            sys.stdout.flush()
            os._exit(code)
    forked = os.waitpid(child, 0)[1]
    send("po rozwidleniu")
    assert wait_for_log()
    rows = dict(MailLog.objects.values_list("subject", "server"))
    print(json.dumps({"calls": calls, "servers": rows, "ended_thread_pid": ended_pid,
                      "forked_child_status": forked}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
