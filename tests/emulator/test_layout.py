"""The emulator package keeps its rooms small and its imports acyclic.

A later issue grows the emulator (schema from Microsoft's definitions, a cost model, limits);
these checks keep that growth in separate rooms instead of one class again. Lazy (function-level)
imports count: a cycle hidden inside a function still ties the two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mail2dataverse.emulator as emulator

PACKAGE = Path(emulator.__file__).parent
MODULES = {p.stem: ast.parse(p.read_text(encoding="utf-8")) for p in PACKAGE.glob("*.py")}


def _imports(tree: ast.Module) -> set[str]:
    """Sibling modules a module imports, at any depth of the file."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mail2dataverse.emulator."):
            out.add(node.module.split(".")[2])
    return out & set(MODULES)


def test_no_import_cycle_in_the_emulator():
    graph = {name: _imports(tree) for name, tree in MODULES.items()}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        for dep in sorted(graph[name]):
            assert dep not in path, f"import cycle: {' -> '.join(path[path.index(dep):] + [dep])}"
            if dep not in done:
                visit(dep, path + [dep])
        done.add(name)

    for name in sorted(graph):
        visit(name, [name])
    assert "store" not in graph["filters"] and "store" not in graph["keys"]  # the former cycle


def test_modules_and_classes_stay_under_the_limits():
    too_big = []
    for name, tree in MODULES.items():
        lines = len((PACKAGE / f"{name}.py").read_text(encoding="utf-8").splitlines())
        if lines > 600:
            too_big.append(f"{name}.py: {lines} lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 300:
                too_big.append(f"{name}.py class {node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert too_big == []
