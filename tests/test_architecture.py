"""The package's layers (docs/architecture.md) hold, and no two modules import each other.

`lint-imports` checks the contracts of pyproject.toml in `make lint`; these tests show
that it runs on this tree, that it would catch an import going up a layer, and that the
module graph (function-level imports included) has no circle.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def run_lint_imports(package_parent):
    """Run lint-imports on the package found under *package_parent*."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True, text=True, cwd=package_parent,
        env={"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"}, check=False,
    )


def test_the_layer_contracts_are_kept():
    result = run_lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_up_a_layer_breaks_the_contracts(tmp_path):
    shutil.copytree(ROOT / "symfonia_mail", tmp_path / "symfonia_mail",
                    ignore=shutil.ignore_patterns("__pycache__", "locale", "static"))
    models = tmp_path / "symfonia_mail" / "models" / "log.py"
    # The models importing the backend: a lower layer reaching up to a higher one.
    models.write_text(models.read_text() + "\nfrom ..backends import configured  # noqa\n")
    result = run_lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "BROKEN" in result.stdout
    assert "symfonia_mail.models.log -> symfonia_mail.backends.configured" in result.stdout


def _circles(graph):
    """Return the strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_one_that_imports_it_back():
    graph = grimp.build_graph("symfonia_mail", include_external_packages=False)
    assert _circles(graph) == []


def test_the_circle_finder_finds_a_circle():
    graph = grimp.ImportGraph()
    for module in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(module)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.x")
    graph.add_import(importer="a.z", imported="a.x")
    assert _circles(graph) == [["a.x", "a.y"]]
