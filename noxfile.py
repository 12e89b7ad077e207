"""The supported-versions matrix that `make test` runs (issue 9).

Django 5.2 LTS on Python 3.11 (full suite, browser tests included), 6.0 on 3.12 and
6.1 on 3.13 (full suite but the browser tests), the date-sensitive tests again with
the clock 400 days ahead (5.2 only), and Django's own SMTP backend tests against
ConfiguredEmailBackend (6.1 only). A missing interpreter is an error, never a skip.

Run one session with `.venv/bin/python -m nox -s "tests-6.1"`; list them with `-l`.
"""

import glob
import os
import shutil
import subprocess
import sys

import nox

nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"  # a second `make test` does not reinstall everything
nox.options.default_venv_backend = "venv"

MATRIX = {  # Django series -> Python it is tested on
    "5.2": "3.11",
    "6.0": "3.12",
    "6.1": "3.13",
}
# Tests whose outcome depends on today's date: rerun with the clock moved (issue 9).
DATE_SENSITIVE = [
    "tests/test_reminders.py", "tests/test_reminders_sales.py",
    "tests/test_force_reminders.py", "tests/test_reminders_bookkeeping.py",
    "tests/test_macros.py", "tests/test_maillog.py", "tests/test_admin.py",
    "tests/test_background.py", "tests/test_outbox_admin.py",
]
CLOCK_SHIFT = "+400 days"


def interpreter(version):
    """Return the path of Python *version*: from pyenv, else from PATH; say how to get it.

    pyenv's shims are on PATH but refuse a version that is not "global": ask
    pyenv's versions folder first, and run what PATH offers before trusting it.
    """
    roots = [os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv")]
    for root in filter(None, roots):
        candidates = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))
        if candidates:
            return candidates[-1]
    found = shutil.which(f"python{version}")
    # S603: the interpreter PATH names, with no input of ours.
    if found and subprocess.run([found, "-c", ""], capture_output=True).returncode == 0:  # noqa: S603
        return found
    print(f"make test needs Python {version} (for Django "
          f"{', '.join(d for d, p in MATRIX.items() if p == version)}): not in pyenv and "
          f"not on PATH. Install it, e.g. `pyenv install {version}`.", file=sys.stderr)
    return f"python{version}"  # nox then fails the session: missing interpreters are errors


def install(session, django):
    session.install("-e", ".[test]", f"django~={django}.0")


def matrix_session(django, python):
    """Register the session that runs the whole suite on Django *django*."""

    @nox.session(name=f"tests-{django}", python=interpreter(python))
    def run(session):
        install(session, django)
        args = list(session.posargs)
        if django != "5.2":
            args += ["-m", "not browser"]  # one Chromium run is enough (the 5.2 one)
        session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *args)
        # The heavy variants run on one version each, in the same virtualenv.
        if django == "5.2" and not session.posargs:
            clock_shift(session)
        if django == "6.1" and not session.posargs:
            django_peer_tests(session)

    run.__doc__ = f"The whole suite on Django {django} (Python {python})" + {
        "5.2": ", then the clock-shifted rerun.",
        "6.1": ", then Django's SMTP backend tests.",
    }.get(django, ".")
    return run


for _django, _python in MATRIX.items():
    matrix_session(_django, _python)


def clock_shift(session):
    """Run the date-sensitive tests again with the clock 400 days ahead."""
    import datetime

    check = ("import datetime, sys; "
             "sys.exit(datetime.date.today() <= datetime.date.fromisoformat(sys.argv[1]))")
    # Prove that faketime moves this interpreter's clock before trusting the run.
    session.run("faketime", CLOCK_SHIFT, "python", "-c", check,
                datetime.date.today().isoformat(), external=True)
    session.run("faketime", CLOCK_SHIFT, "python", "-m", "pytest", "-p", "no:cacheprovider",
                *DATE_SENSITIVE, external=True)


def django_peer_tests(session):
    """Run Django's own SMTP backend tests against ConfiguredEmailBackend."""
    session.run("python", "tests/peer_django_smtp.py")


@nox.session(name="clock", python=interpreter(MATRIX["5.2"]), default=False)
def clock(session):
    """Only the clock-shifted rerun (Django 5.2; part of tests-5.2)."""
    install(session, "5.2")
    clock_shift(session)


@nox.session(name="peer", python=interpreter(MATRIX["6.1"]), default=False)
def peer(session):
    """Only Django's SMTP backend tests against ours (Django 6.1; part of tests-6.1)."""
    install(session, "6.1")
    django_peer_tests(session)
