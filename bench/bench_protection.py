"""Benchmark: protect_message per attachment vs the bare pikepdf / pyzipper call.

Run: .venv/bin/python bench/bench_protection.py [--runs N]

For 100 KB and 1 MB files (a PDF, a CSV that gets deflated, an
already-compressed binary that gets stored) it prints the median time of N
runs of ``protection.protect_message`` on a one-attachment message next to
the bare library call on the same bytes with the same options (pikepdf
``save(encryption=AES-256 R6)``; pyzipper AES write, same compression), and
the ratio. The two are interleaved so that drift hits both alike. The target
(issue 4) is a ratio within 1.1. ZipCrypto, which has no bare call to compare
with (pyzipper cannot write it), is timed on its own.

PDF times vary from run to run even on a quiet machine: the R6 key derivation
(ISO 32000-2, algorithm 2.B) runs a number of AES rounds that depends on the
random salt. Use many runs and a machine that is not busy with other work;
the load average is printed to show how quiet it was.
"""

import argparse
import gc
import io
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

PASSWORD = "Zażółć gęślą jaźń 42!"
SIZES = {"100 KB": 100 * 1024, "1 MB": 1024 * 1024}


def configure():
    from cryptography.fernet import Fernet

    settings.configure(
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        INSTALLED_APPS=[], SYMFONIA_MAIL={}, USE_TZ=True,
    )
    django.setup()


def make_pdf(size):
    """Return a PDF of about *size* bytes: text pages plus an incompressible image-like stream."""
    import pikepdf
    from fpdf import FPDF

    doc = FPDF()
    doc.set_font("helvetica", size=10)
    for page in range(1, 4):
        doc.add_page()
        for line in range(60):
            doc.cell(text=f"Faktura FV/{page}/2026 pozycja {line} ............ 1 234,56 PLN",
                     new_x="LMARGIN", new_y="NEXT")
    base = bytes(doc.output())
    pdf = pikepdf.open(io.BytesIO(base))
    padding = max(size - len(base) - 200, 0)
    # Random bytes stand in for a scanned page: what makes real PDFs large.
    pdf.Root.SymfoniaBench = pikepdf.Stream(pdf, os.urandom(padding))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def make_csv(size):
    line = "FV/12/2026;ACME sp. z o.o.;2026-11-02;1 234,56 zł;{n}\r\n"
    rows, total, n = [], 0, 0
    while total < size:
        row = line.format(n=n).encode()
        rows.append(row)
        total += len(row)
        n += 1
    return b"".join(rows)[:size]


def bare_pdf(data):
    import pikepdf

    encryption = pikepdf.Encryption(user=PASSWORD, owner=secrets.token_urlsafe(32), R=6)
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        pdf.save(out, encryption=encryption)
    return out.getvalue()


def bare_zip(name, data, *, stored):
    import pyzipper

    out = io.BytesIO()
    compression = pyzipper.ZIP_STORED if stored else pyzipper.ZIP_DEFLATED
    with pyzipper.AESZipFile(out, "w", compression=compression,
                             encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(PASSWORD.encode())
        archive.writestr(name, data, compresslevel=1)
    return out.getvalue()


def message_with(name, data, mimetype):
    from django.core.mail import EmailMessage

    message = EmailMessage("Faktura", "W załączeniu.", to=["client@example.com"])
    message.attach(name, data, mimetype)
    return message


def timed(function):
    gc.collect()
    gc.disable()  # a collection in one run but not the other is noise, not cost
    try:
        start = time.perf_counter()
        function()
        return (time.perf_counter() - start) * 1000
    finally:
        gc.enable()


def measure(name, data, mimetype, bare, runs):
    """Return the times (ms) of *runs* interleaved runs: (ours, bare)."""
    from symfonia_mail.protection import attachments as protection

    ours_times, bare_times = [], []
    for run in range(runs + 2):
        message = message_with(name, data, mimetype)  # a fresh, unprotected message
        # Both results live until the next run (ours in the message): freeing
        # 1 MB inside one timing and not the other measures the allocator.
        kept = []
        pair = [("ours", lambda m=message: protection.protect_message(m, PASSWORD)),
                ("bare", lambda k=kept: k.append(bare()))]
        if run % 2:
            pair.reverse()
        for label, function in pair:
            elapsed = timed(function)
            if run >= 2:  # the first two runs warm caches and lazy imports
                (ours_times if label == "ours" else bare_times).append(elapsed)
    return ours_times, bare_times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=61, help="runs per case (median)")
    args = parser.parse_args()
    configure()

    import pikepdf
    import pyzipper
    from django.test.utils import override_settings

    from symfonia_mail.protection import attachments as protection

    print(f"Python {sys.version.split()[0]}, pikepdf {pikepdf.__version__} "
          f"(qpdf {pikepdf.__libqpdf_version__}), pyzipper {pyzipper.__version__}; "
          f"{args.runs} interleaved runs, ms per attachment: median (min)")
    print("ratio: median of the per-run ratios ours/bare (each pair ran back to back, so "
          "load hits both); then median/median and min/min")
    print(f"{'file':<22}{'size':>7}{'ours':>17}{'bare':>17}{'ratio':>8}{'med':>7}{'min':>7}  how")
    worst = 0.0
    for label, size in SIZES.items():
        pdf, csv, blob = make_pdf(size), make_csv(size), os.urandom(size)
        text = csv.decode()
        cases = [
            ("invoice.pdf", pdf, "application/pdf", lambda d=pdf: bare_pdf(d),
             "PDF, AES-256 R6"),
            # attach() decodes text/* to str; the bare call gets that same str
            # (pyzipper's writestr encodes it as UTF-8, as we must too).
            ("data.csv (text/csv)", csv, "text/csv",
             lambda d=text: bare_zip("data.csv", d, stored=False),
             "AES ZIP, deflate 1, str content"),
            ("data.csv (bytes)", csv, "application/octet-stream",
             lambda d=csv: bare_zip("data.csv", d, stored=False), "AES ZIP, deflate 1"),
            ("scan.jpg", blob, "image/jpeg",
             lambda d=blob: bare_zip("scan.jpg", d, stored=True), "AES ZIP, stored"),
        ]
        for title, data, mimetype, bare, how in cases:
            ours, base = measure(title.split(" ")[0], data, mimetype, bare, args.runs)
            ratio = statistics.median(o / b for o, b in zip(ours, base, strict=True))
            worst = max(worst, ratio)
            print(f"{title:<22}{label:>7}{cell(ours):>17}{cell(base):>17}{ratio:>8.3f}"
                  f"{statistics.median(ours) / statistics.median(base):>7.3f}"
                  f"{min(ours) / min(base):>7.3f}  {how}")
        with override_settings(SYMFONIA_MAIL={"ZIP_ENCRYPTION": "zipcrypto"}):
            runs = max(3, args.runs // 10)  # pure Python: slow, so fewer runs
            for title, data, mimetype in (("data.csv", csv, "text/csv"),
                                          ("scan.jpg", blob, "image/jpeg")):
                times = []
                for _ in range(runs):
                    message = message_with(title, data, mimetype)
                    times.append(timed(lambda m=message: protection.protect_message(m, PASSWORD)))
                print(f"{title + ' (zipcrypto)':<22}{label:>7}{cell(times):>17}{'-':>17}"
                      f"{'-':>8}{'-':>7}{'-':>7}  ZipCrypto, {runs} runs, no bare call")
    print(f"worst ratio: {worst:.3f} (target <= 1.1); "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


def cell(times):
    return f"{statistics.median(times):.2f} ({min(times):.2f})"


if __name__ == "__main__":
    main()
