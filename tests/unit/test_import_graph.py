"""shmring's own modules import each other along a line: no module can reach itself.

Every import counts, also those inside functions and under ``TYPE_CHECKING``:
a lazy or type-only import that closes a circle still ties the modules together.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import shmring

PACKAGE_DIR = Path(shmring.__file__).parent

def _module_names() -> dict[str, Path]:
    names = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")) + sorted(PACKAGE_DIR.rglob("*.pyi")):
        parts = ("shmring", *path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.setdefault(".".join(parts), path)
    return names


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The shmring modules ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {dep for dep in found if dep in modules and dep != name}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports as a list of module names, or None."""
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        trail.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return [*trail[trail.index(dep):], dep]
            if dep not in state and (cycle := visit(dep)) is not None:
                return cycle
        state[node] = "done"
        trail.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_every_module_imports() -> None:
    for name, path in _module_names().items():
        if path.suffix == ".py" and name != "shmring.cli.__main__":
            importlib.import_module(name)


def test_module_imports_form_no_cycle() -> None:
    modules = _module_names()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph["shmring._ring"] >= {"shmring._attachment", "shmring._reader", "shmring._writer"}, (
        "the import scan no longer sees _ring's imports")
    cycle = _find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle or [])}"


def test_the_scan_detects_a_cycle() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("ring_module", ["shmring._writer", "shmring._reader", "shmring._subscription"])
def test_ring_parts_do_not_import_the_ring(ring_module: str) -> None:
    modules = _module_names()
    assert "shmring._ring" not in _imports(ring_module, modules[ring_module], modules)
