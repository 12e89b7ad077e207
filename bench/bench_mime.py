"""Building a message's bytes with large attachments: ours vs Django's own, same run.

    .venv/bin/python bench/bench_mime.py [--repeat 15]

Two PDFs (random bytes, so nothing compresses) of 100 KB and of 1 MB each,
attached to one message: Django's ``message().as_bytes()`` vs our
``message.envelope()``, which base64-encodes each large attachment once and
splices it into Django's bytes (symfonia_mail/mimebytes.py). Median ms per
message. Not a timed test.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import median_ms, setup_django  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(str(Path(tmp) / "mime.sqlite3"))
        from django.core.mail import EmailMessage

        from symfonia_mail.content.message import envelope

        for size_kb in (100, 1024):
            pdf = os.urandom(size_kb * 1024)

            def build(pdf=pdf):
                message = EmailMessage("Faktura", "Dzień dobry " * 50, "biuro@firma.example",
                                       ["k@example.com"])
                message.attach("FV_1.pdf", pdf, "application/pdf")
                message.attach("FV_2.pdf", pdf, "application/pdf")
                return message

            theirs = median_ms(lambda b=build: b().message().as_bytes(linesep="\r\n"),
                               args.repeat)
            ours = median_ms(lambda b=build: envelope(b()), args.repeat)
            print(f"2 x {size_kb:5d} KB PDFs: Django {theirs:7.1f} ms, ours {ours:7.1f} ms "
                  f"per message ({theirs / ours:4.1f}x faster)")


if __name__ == "__main__":
    main()
