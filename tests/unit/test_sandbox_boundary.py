"""The sandbox is its own top-level package (c7n_sandbox/): the library never imports it, the plugin
imports it only inside the functions that start a sandbox (--env sandbox), and the installed suite does
not ship it."""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]


def _sandbox_imports(path: Path) -> list[tuple[int, bool]]:
    """(line, at module level) of each import of c7n_sandbox in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        if any(n == "c7n_sandbox" or n.startswith("c7n_sandbox.") for n in names):
            found.append((node.lineno, id(node) in top))
    return found


def test_the_library_never_imports_the_sandbox():
    found = {str(p.relative_to(ROOT)): lines for p in (ROOT / "c7n_upgrade").rglob("*.py")
             if (lines := _sandbox_imports(p))}
    assert found == {}


def test_the_plugin_imports_the_sandbox_only_where_it_starts_one():
    imports = {str(p.relative_to(ROOT)): _sandbox_imports(p) for p in (ROOT / "fixtures").rglob("*.py")}
    assert any(imports.values())  # the plugin does start sandboxes: the check below looks at them
    assert {f: lines for f, lines in imports.items() if any(top for _, top in lines)} == {}


def test_the_installed_suite_does_not_ship_the_sandbox():
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    shipped = find_packages(str(ROOT), include=find["include"])
    assert "c7n_upgrade" in shipped and "fixtures" in shipped
    assert [p for p in shipped if p.startswith("c7n_sandbox")] == []
