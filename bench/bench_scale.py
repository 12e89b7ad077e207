"""Scale, ours vs Django's stock SMTP backend: memory for a long generator, sockets per user.

    .venv/bin/python bench/bench_scale.py [--messages 10000] [--users 1000]

Each measurement runs in a fresh process (own SQLite file, soft limit of
1,024 open files) against the loopback sink, which counts the connections
open at once:

- *messages* from a generator in one ``send_messages``: peak RSS added by
  the call (after a warm-up of 1,000), ours and stock;
- *users* users with individual configurations, one message each, in one
  call: sockets open at once in the sending process (read from /proc before
  each message), connections open at once and in total at the sink, and our
  queries for configurations (one per chunk of 500).

Not a timed test: a measurement.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import setup_django  # noqa: E402

from tests.send_child import smtp_values, users  # noqa: E402  (the scale test's own)

BODY = "Dzień dobry,\n\nprzypominamy o płatności za fakturę {numer}.\n" * 20


def child_memory(port, count, stock):
    from django.core.mail import EmailMessage, get_connection

    from symfonia_mail.models import GlobalMailConfig

    GlobalMailConfig.objects.update_or_create(pk=1, defaults=smtp_values(port))

    def generate(n):
        for i in range(n):
            if stock:
                yield EmailMessage(f"Faktura FV/{i}/2026", BODY.replace("{numer}", f"FV/{i}"),
                                   "biuro@firma.example", [f"k{i}@example.com"])
            else:
                message = EmailMessage("Faktura {numer}", BODY, to=[f"k{i}@example.com"])
                message.macros = {"numer": f"FV/{i}/2026"}
                yield message

    def connection():
        if stock:
            return get_connection("django.core.mail.backends.smtp.EmailBackend",
                                  host="127.0.0.1", port=port, timeout=10)
        return get_connection()

    connection().send_messages(generate(1000))  # warm-up
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sent = connection().send_messages(generate(count))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"sent": sent, "added_mib": (after - before) / 1024}


def run_child(*args):
    done = subprocess.run([sys.executable, __file__, "--child", *map(str, args)],
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(args):
    mode, port, count = args[0], int(args[1]), int(args[2])
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(str(Path(tmp) / "scale.sqlite3"))
        if mode == "users":
            result = users(port, count)
        else:
            result = child_memory(port, count, stock=mode == "stock-memory")
    print(json.dumps(result))


def main():
    if sys.argv[1:2] == ["--child"]:
        return child(sys.argv[2:])
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args()
    from smtp_sink import reset_counters, start_sink

    sink, port = start_sink()
    try:
        print(f"{args.messages:,} messages from a generator in one send_messages "
              f"(peak RSS added; fresh process each):")
        for label, mode in (("Django stock", "stock-memory"), ("ours", "ours-memory")):
            result = run_child(mode, port, args.messages)
            print(f"  {label:13}: {result.get('added_mib', float('nan')):6.1f} MiB "
                  f"{result.get('error', '')}")
        reset_counters(sink)
        result = run_child("users", port, args.users)
        counters = sink.counters
        print(f"{args.users:,} users with individual configurations, one call "
              f"(soft limit 1,024 open files): sent {result.get('sent')}, "
              f"at most {result.get('peak_sockets')} sockets open in the sending process "
              f"(the sink saw {counters['peak'].value} at once: its threads count a "
              f"connection closed when they read QUIT, which can lag the client's close by "
              f"one; {counters['total'].value} in total), {result.get('queries')} queries "
              f"({result.get('config_queries')} for configurations) "
              f"{result.get('error', '')}")
    finally:
        sink.terminate()
    return None


if __name__ == "__main__":
    main()
