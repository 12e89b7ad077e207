"""The documentation site (issue 20) and the README as its landing page (issue 19, item 5).

The site is built with Sphinx as `make docs` does, warnings as errors; the settings
reference is generated from symfonia_mail/conf.py, so every key must show up in it.
"""

import ast
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from symfonia_mail import conf

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"

sys.path.insert(0, str(DOCS / "_ext"))
import settings_reference  # noqa: E402  (lives in docs/_ext, put on the path above)


def sphinx_build(source, out, confdir=DOCS):
    """Run sphinx-build as `make docs` does (warnings are errors); return the process."""
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-c", str(confdir), "-d", str(out / ".doctrees"), str(source), str(out)],
        capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    result = sphinx_build(DOCS, out)
    assert result.returncode == 0, result.stderr
    return out


def test_every_setting_is_in_the_built_reference(built_site):
    html = (built_site / "settings.html").read_text()
    parts = re.split(r'id="setting-([a-z0-9-]+)"', html)
    entries = {parts[i]: unescape(re.sub(r"<[^>]+>", "", parts[i + 1].split("</dd>")[0]))
               for i in range(1, len(parts), 2)}
    assert len(entries) == len(conf.DEFAULTS)
    comments = settings_reference.read_settings(Path(conf.__file__), conf.DEFAULTS)
    for setting in comments:
        text = " ".join(entries[setting.name.lower().replace("_", "-")].split())
        assert setting.name in text
        assert f"default {setting.default!r}" in text, (setting.name, text)
        assert setting.description in text  # the comment above the key, as written


def test_each_setting_is_described_by_its_comment():
    settings = settings_reference.read_settings(Path(conf.__file__), conf.DEFAULTS)
    described = {s.name: s.description for s in settings}
    assert described["RETRY_MAX_AGE"].startswith("No retry later than")
    assert "ZIP_ENCRYPTIONS" in described["ZIP_ENCRYPTION"]  # the comment at the line's end
    assert all(described.values())


def test_a_setting_without_a_comment_fails_the_build(tmp_path):
    source = tmp_path / "conf.py"
    source.write_text('DEFAULTS = {\n    # Described.\n    "A": 1,\n    "B": 2,\n}\n')
    with pytest.raises(settings_reference.ExtensionError, match=r"missing for: B \(line 4\)"):
        settings_reference.read_settings(source, {"A": 1, "B": 2})


def test_a_link_to_a_missing_page_fails_the_build(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "index.md").write_text("# Index\n\n```{toctree}\npage\n```\n")
    (source / "page.md").write_text("# Page\n\nSee [the other page](other.md).\n")
    broken = sphinx_build(source, tmp_path / "broken")
    assert broken.returncode != 0
    assert "other.md" in broken.stderr and "myst.xref_missing" in broken.stderr
    (source / "other.md").write_text("# Other\n")
    (source / "index.md").write_text("# Index\n\n```{toctree}\npage\nother\n```\n")
    assert sphinx_build(source, tmp_path / "fixed").returncode == 0


def test_readme_is_a_landing_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, len(lines)


def python_blocks_under(heading):
    """Return the ```python blocks of the README section that starts with *heading*."""
    text = README.read_text()
    start = text.index(f"\n{heading}\n")
    end = text.find("\n#", start + len(heading) + 2)
    section = text[start:end if end != -1 else None]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_has_one_settings_block_per_django_version():
    (older,) = python_blocks_under("### Django 5.2 LTS and 6.0")
    (newest,) = python_blocks_under("### Django 6.1")
    assert 'EMAIL_BACKEND = "symfonia_mail.backends.ConfiguredEmailBackend"' in older
    assert "MAILERS" not in older
    # Django 6.1 refuses any EMAIL_* setting next to MAILERS.
    assert 'MAILERS = {"default": {"BACKEND": "symfonia_mail.backends.ConfiguredEmailBackend"}}' \
        in newest
    assert "EMAIL_" not in newest
    for block in (older, newest):
        assert '"symfonia_mail"' in block and "CurrentUserMiddleware" in block
        assert "FIELD_ENCRYPTION_KEY" in block


def test_readme_says_how_to_install_and_make_a_key():
    text = README.read_text()
    assert "pip install symfonia-mail\n" in text
    code = "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
    assert f'python -c "{code}"' in text
    key = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"x")) == b"x"  # a usable key


def test_readme_links_point_to_files_that_exist():
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text())
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert local
    assert [t for t in local if not (ROOT / t).exists()] == []


def test_python_examples_in_the_docs_are_valid_python():
    pages = sorted(DOCS.glob("*.md")) + [README]
    blocks = [(page.name, block) for page in pages
              for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S)]
    assert len(blocks) > 10
    for name, block in blocks:
        ast.parse(block, filename=name)
