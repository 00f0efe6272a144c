"""The package's shape: small modules and functions, no import cycle, a true code map."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "abcspark"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 50
"""Lines of a function's code, not counting its docstring (numpydoc makes those long)."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set:
    """abcspark modules that ``path`` imports when it is imported (top-level statements)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("abcspark"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("abcspark"))
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_are_small(path):
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_are_short(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0]
            docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            start = node.body[1].lineno if docstring and len(node.body) > 1 else first.lineno
            assert node.end_lineno - start + 1 <= MAX_FUNCTION_LINES, node.name


def test_no_import_cycle():
    modules = {_module_name(p): p for p in MODULES}
    graph = {name: {m for m in _imports(path) if m in modules} for name, path in modules.items()}
    # A package's submodule imports its parent package first, which is not a cycle of code.
    state: dict = {}

    def visit(name: str, trail: list) -> None:
        state[name] = "open"
        for child in sorted(graph[name]):
            if name.startswith(child + "."):
                continue
            if state.get(child) == "open":
                pytest.fail(f"import cycle: {' -> '.join(trail + [name, child])}")
            if child not in state:
                visit(child, trail + [name])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_the_code_map_names_only_paths_that_exist():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Code map", 1)[1].split("\n## ", 1)[0]
    paths = re.findall(r"`(abcspark/[\w/.]*)`", section)
    assert len(paths) > 20
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing


def test_the_code_map_names_every_module():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Code map", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(abcspark/[\w/.]*)`", section))
    for path in MODULES:
        relative = str(path.relative_to(ROOT))
        folder = str(path.parent.relative_to(ROOT)) + "/"
        if path.name != "_version.py" and not relative.startswith("abcspark/__init__"):
            assert (
                relative in named
                or folder in named
                or any(f"`{Path(relative).name}`" in section for _ in [0])
            ), relative
