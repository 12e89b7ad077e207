"""Render the SYMFONIA_MAIL settings reference from the code (``symfonia-settings`` directive).

Each key of ``symfonia_mail.conf.DEFAULTS`` is described by the comment lines directly
above it in ``symfonia_mail/conf.py`` (plus a comment at the end of its own line). A key
without such a comment stops the build, so the reference cannot drift from the code.
"""

import ast
import io
import tokenize
from dataclasses import dataclass
from pathlib import Path

from docutils import nodes
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

from symfonia_mail import conf


@dataclass(frozen=True)
class Setting:
    """One key of DEFAULTS: its name, default value and the comment describing it."""

    name: str
    default: object
    description: str


def _comments_by_line(source):
    """Return {line number: comment text} for every comment token of *source*."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {tok.start[0]: tok.string.lstrip("#").strip()
            for tok in tokens if tok.type == tokenize.COMMENT}


def _defaults_dict(tree, path):
    """Return the ast.Dict assigned to DEFAULTS at the top of the module."""
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == "DEFAULTS" for t in targets):
            if isinstance(node.value, ast.Dict):
                return node.value
    raise ExtensionError(f"{path}: no DEFAULTS = {{...}} dict literal found")


def read_settings(path, defaults):
    """Return the Settings of *defaults* described by the comments in the source *path*."""
    source = Path(path).read_text(encoding="utf-8")
    comments = _comments_by_line(source)
    lines = source.splitlines()
    found, undocumented = [], []
    for key, value in zip(*_dict_items(_defaults_dict(ast.parse(source), path)), strict=True):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            raise ExtensionError(f"{path}:{value.lineno}: DEFAULTS keys must be literal strings")
        above, line = [], key.lineno - 1
        while line >= 1 and lines[line - 1].lstrip().startswith("#"):
            above.insert(0, comments.get(line, lines[line - 1].strip("# ")))
            line -= 1
        # A comment at the end of the key's value (its last line) adds to the one above.
        trailing = comments.get(value.end_lineno)
        text = " ".join([*above, f"({trailing})"] if trailing else above)
        if not above:
            undocumented.append(f"{key.value} (line {key.lineno})")
        found.append(Setting(key.value, defaults.get(key.value), text))
    if undocumented:
        raise ExtensionError(
            f"{path}: every DEFAULTS key needs a comment line directly above it "
            f"describing it (the settings reference is built from them); missing for: "
            f"{', '.join(undocumented)}")
    names = [s.name for s in found]
    if sorted(names) != sorted(defaults):
        raise ExtensionError(f"{path}: the DEFAULTS literal ({sorted(names)}) and the "
                             f"imported DEFAULTS ({sorted(defaults)}) differ")
    return found


def _dict_items(node):
    """Return the keys and values of an ast.Dict (a **spread is not a documented key)."""
    if any(key is None for key in node.keys):
        raise ExtensionError("DEFAULTS must list its keys literally (no ** spread)")
    return node.keys, node.values


class SettingsReference(SphinxDirective):
    """Render the SYMFONIA_MAIL keys as a definition list: name and default, description."""

    has_content = False

    def run(self):
        """Return the definition list node."""
        path = Path(conf.__file__)
        self.env.note_dependency(str(path))
        listing = nodes.definition_list(classes=["symfonia-settings"])
        for setting in read_settings(path, conf.DEFAULTS):
            item = nodes.definition_list_item()
            # The id lets a page link to one setting: settings.md#setting-max-connections.
            item += nodes.term("", "", nodes.literal(text=setting.name),
                               nodes.Text(" — default "),
                               nodes.literal(text=repr(setting.default)),
                               ids=[f"setting-{setting.name.lower().replace('_', '-')}"])
            definition = nodes.definition()
            definition += nodes.paragraph(text=setting.description)
            item += definition
            listing += item
        return [listing]


def setup(app):
    """Register the directive."""
    app.add_directive("symfonia-settings", SettingsReference)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
