"""No import cycle in the package, lazy imports included.

A cycle hidden in a function-level import still ties two modules together: neither can be
read, tested or moved without the other, and the first caller decides which half is
half-initialised. So this walks every ``import`` statement of every module, at any depth
(function bodies, ``try`` blocks, ``if TYPE_CHECKING``), with :mod:`ast`, without importing
anything, and fails on any cycle, naming it.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module_files() -> dict[str, Path]:
    """``{dotted module name: file}`` for every module of the package, from pyproject's
    package-dir map (``mail2dataverse`` → ``engine/``, ``mail2dataverse.plugins`` → ``plugins/``...)."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = {name: ROOT / folder for name, folder in setuptools["package-dir"].items()}
    found: dict[str, Path] = {}
    for package, folder in roots.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder)
            if "example_plugin" in rel.parts:  # its own distribution (m2d_example), not ours
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _imports(name: str, path: Path, modules: set[str]) -> set[str]:
    """The package modules ``name`` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    targets: set[str] = set()

    def nearest(dotted: str) -> str | None:
        # ``import a.b.c`` or ``from a.b import X`` where X is no module: the deepest module named.
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = nearest(alias.name)
                if target:
                    targets.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                target = submodule if submodule in modules else nearest(origin)
                if target:
                    targets.add(target)
    targets.discard(name)
    return targets


def _graph() -> dict[str, set[str]]:
    files = _module_files()
    modules = set(files)
    return {name: _imports(name, path, modules) for name, path in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_cycle_detection_finds_a_lazy_cycle():
    # The detector itself: a cycle closed only by a function-level import is still a cycle.
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_imports_are_read_at_every_depth(tmp_path):
    module = tmp_path / "mod.py"
    module.write_text(
        "from . import errors\n"
        "from .sub import thing\n"
        "def f():\n"
        "    from ..top import name\n"
        "    import pkg.deep.leaf\n"
    )
    modules = {"pkg", "pkg.x", "pkg.x.errors", "pkg.x.sub", "pkg.top", "pkg.deep", "pkg.x.mod"}
    assert _imports("pkg.x.mod", module, modules) == {"pkg.x.errors", "pkg.x.sub", "pkg.top", "pkg.deep"}


def test_walk_sees_the_whole_package():
    graph = _graph()
    # The engine, a subpackage and the built-in plugins are all in the graph, with their edges.
    assert "mail2dataverse.pluginmanager" in graph["mail2dataverse.cli"]
    assert "mail2dataverse.addresses" in graph["mail2dataverse.plugins.accounts"]
    assert "mail2dataverse.emulator.batch" in graph["mail2dataverse.emulator.app"]


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles (lazy imports included): " + "; ".join(" <-> ".join(c) for c in cycles)
