"""The release artefacts: `python -m build` gives a wheel and an sdist with the right contents.

`make wheel-check` installs the wheel in a fresh virtualenv and runs the app from it
(tests/packaging_check.py); this test builds both artefacts and reads what is inside.
"""

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import symfonia_mail

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "symfonia_mail"
VERSION = symfonia_mail.__version__

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    """Build the sdist and the wheel (the wheel from the sdist, as PyPI users get it)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    [wheel] = out.glob("*.whl")
    [sdist] = out.glob("*.tar.gz")
    return wheel, sdist


def data_files():
    """Return the package's non-Python files that must ship, relative to the package."""
    wanted = []
    for folder in ("templates", "static", "locale", "migrations"):
        wanted += [p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / folder).rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts]
    return [*wanted, "py.typed"]


def test_version_has_one_source_and_a_changelog_entry(artefacts):
    wheel, sdist = artefacts
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)
    assert wheel.name == f"symfonia_mail-{VERSION}-py3-none-any.whl"
    assert sdist.name == f"symfonia_mail-{VERSION}.tar.gz"
    top = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.M).group(1)
    assert top == VERSION


def test_wheel_holds_the_package_and_its_data_only(artefacts):
    wheel, _sdist = artefacts
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"symfonia_mail-{VERSION}.dist-info/METADATA").decode()
    missing = [f for f in data_files() if f"symfonia_mail/{f}" not in names]
    assert missing == []
    assert "symfonia_mail/locale/pl/LC_MESSAGES/django.mo" in names
    assert any(n.startswith("symfonia_mail/migrations/0001_squashed") for n in names)
    tops = {name.split("/")[0] for name in names}
    assert tops == {"symfonia_mail", f"symfonia_mail-{VERSION}.dist-info"}  # no tests, demo
    assert f"Version: {VERSION}" in metadata
    assert "Classifier: Typing :: Typed" in metadata


def test_sdist_holds_what_a_rebuild_needs(artefacts):
    _wheel, sdist = artefacts
    prefix = f"symfonia_mail-{VERSION}/"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(prefix) for name in archive.getnames()}
    for needed in ("pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE",
                   "symfonia_mail/__init__.py", "symfonia_mail/py.typed",
                   "symfonia_mail/locale/pl/LC_MESSAGES/django.mo",
                   "symfonia_mail/locale/pl/LC_MESSAGES/django.po"):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("tests/", "example_project/", "bench/"))]
