"""The package's structure as checked rules: the floors (import-linter), ruff, and no private names
imported across modules. The floors and the ruff rules are configured in pyproject.toml."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

PACKAGE = ROOT / "kellynotes"
# modules that are private by name but are the package's shared utilities (Diffrax's `_custom_types` idiom)
SHARED_PRIVATE_MODULES = {"_validation"}


def run(*command: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True, env=env)


def test_the_floors_hold():
    done = run("-c", "import sys; from importlinter.cli import lint_imports; "
                     "sys.exit(lint_imports(no_cache=True, no_logo=True))")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_passes():
    done = run("-m", "ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def _module_aliases(tree: ast.Module) -> dict[str, str]:
    """Local names bound to modules of the package: ``from . import x`` / ``from .. import x`` /
    ``import kellynotes.x as y``."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level and not node.module:
            for name in node.names:
                aliases[name.asname or name.name] = name.name
        elif isinstance(node, ast.ImportFrom) and node.module == "kellynotes":
            for name in node.names:
                aliases[name.asname or name.name] = name.name
        elif isinstance(node, ast.Import):
            for name in node.names:
                if name.name.startswith("kellynotes.") and name.asname:
                    aliases[name.asname] = name.name.rsplit(".", 1)[1]
    return aliases


def private_uses(path: Path) -> list[str]:
    """``_name`` taken from another module of the package by ``path``: imported by name, or read as an attribute."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        from_package = isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("kellynotes"))
        if from_package:
            for name in node.names:
                if name.name.startswith("_") and not name.name.startswith("__") \
                        and name.name not in SHARED_PRIVATE_MODULES:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name.name}")
    aliases = _module_aliases(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                and node.attr.startswith("_") and not node.attr.startswith("__") \
                and aliases[node.value.id] not in SHARED_PRIVATE_MODULES:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} reads {node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("folder", ["kellynotes", "benchmarks", "tests"])
def test_no_private_name_crosses_a_module_boundary(folder):
    uses = [use for path in sorted((ROOT / folder).rglob("*.py")) for use in private_uses(path)]
    assert not uses, "\n".join(uses)


def test_the_checker_sees_private_imports(tmp_path):
    path = ROOT / "kellynotes" / "_probe_for_test.py"
    try:
        path.write_text("from .mixture import _hidden\nfrom . import tower\nvalue = tower._cut\n"
                        "from . import _validation as check\nok = check.frozen_float64\n")
        uses = private_uses(path)
    finally:
        path.unlink()
    assert [use.split(" ", 1)[1] for use in uses] == ["imports _hidden", "reads tower._cut"]
