"""Sphinx configuration of the symfonia_mail documentation (`make docs`)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE / "_ext")]  # the package, our extension

from symfonia_mail import __version__  # noqa: E402  (needs the path above)

project = "symfonia_mail"
author = "symfonia_mail developers"
copyright = "symfonia_mail developers"
release = version = __version__

extensions = ["myst_parser", "settings_reference"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
# `[text](page.md#a-heading)` links are checked against the headings of that page.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

html_theme = "furo"
html_title = f"symfonia_mail {release}"
language = "en"
# Keep quotes as written: the settings reference shows code comments (transport="system").
smartquotes = False
