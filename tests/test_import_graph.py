"""The import graph of ``src/stratloop``: no cycles between modules or packages, and the layering.

The graph is built statically with ``ast`` from the source files, so it sees
every import: module level, inside functions (the lazy imports kept for heavy
dependencies) and under ``if TYPE_CHECKING:``. Type-only imports count, both
for cycles and for layering: a package that needs another's types to be
described depends on it as much as one that calls it. Imports made from
strings (``importlib.import_module``) are invisible here; ``stratloop.llm``
mirrors its lazy table in ``TYPE_CHECKING`` imports, so its edges are seen.

A submodule import such as ``stratloop.data.panel`` also runs
``stratloop/data/__init__.py``; that implicit edge is left out of the module
graph (every re-exporting ``__init__`` would otherwise form a cycle with its
own submodules) and is covered by the package graph instead.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import stratloop

SOURCE = Path(stratloop.__file__).parent

ACCEPTANCE = "stratloop.acceptance"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("stratloop.redaction",),
    (
        "stratloop._types",
        "stratloop._share",
        "stratloop.errors",
        "stratloop._fsync",
        "stratloop._held",
        "stratloop._json",
        "stratloop._preempt",
        "stratloop._templates",
        "stratloop._lazy",
    ),
    ("stratloop.spec",),
    ("stratloop.flags",),
    ("stratloop.config",),
    ("stratloop.environments",),
    ("stratloop.data",),
    ("stratloop.factors",),
    ("stratloop.backtest",),
    ("stratloop.generation",),
    ("stratloop.llm",),
    ("stratloop.iteration",),
    ("stratloop.audit",),
    ("stratloop.report",),
    ("stratloop.loop",),
    ("stratloop",),
    ("stratloop.service",),
    ("stratloop.cli",),
    (ACCEPTANCE,),
)
"""Packages from the bottom up; a package imports only packages in lower layers.

Data, then the factor language over it, then the backtest that evaluates
factors; generation and the LLM above them, the typed iteration record built
from both, the audit trail that projects it and the reports on the trail; the
loop that ties them together, shadow runs of the loop, the researcher's API
(``stratloop`` itself), then the service and the command line at the top.
The guide's acceptance package may import anything, and nothing imports it.
"""


@dataclass(frozen=True, slots=True)
class Edge:
    """One import: ``source`` imports ``target`` at ``where`` (``file:line``)."""

    source: str
    target: str
    where: str

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.where})"


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under the package ``root``."""
    files: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def _imported_names(node: ast.Import | ast.ImportFrom, module: str, path: Path) -> Iterator[str]:
    """The dotted names an import statement may load, most specific first."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        anchor = package[: len(package) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    for alias in node.names:
        yield f"{base}.{alias.name}"


def import_edges(root: Path) -> list[Edge]:
    """Every import between modules of the package at ``root``, wherever it is written."""
    files = module_files(root)
    edges: list[Edge] = []
    for module, path in files.items():
        shown = path.relative_to(root.parent)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _imported_names(node, module, path):
                target = name
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    edges.append(Edge(module, target, f"{shown}:{node.lineno}"))
    return edges


def package_of(module: str) -> str:
    """``stratloop.data.panel`` -> ``stratloop.data``; top-level modules are their own unit."""
    return ".".join(module.split(".")[:2])


def package_edges(edges: list[Edge]) -> list[Edge]:
    """The module edges that cross packages, relabelled with the packages' names."""
    return [
        Edge(package_of(e.source), package_of(e.target), e.where)
        for e in edges
        if package_of(e.source) != package_of(e.target)
    ]


def find_cycles(edges: list[Edge]) -> list[list[Edge]]:
    """One shortest cycle per strongly connected component of the graph."""
    graph: dict[str, dict[str, Edge]] = {}
    for edge in edges:
        graph.setdefault(edge.source, {}).setdefault(edge.target, edge)
    reach = {node: _reached_by(graph, node) for node in graph}
    cycles: list[list[Edge]] = []
    covered: set[str] = set()
    for node in sorted(graph):
        if node in covered or node not in reach[node]:
            continue
        covered.update(other for other in reach[node] if node in reach.get(other, {}))
        cycle = [reach[node][node]]
        while cycle[0].source != node:
            cycle.insert(0, reach[node][cycle[0].source])
        cycles.append(cycle)
    return cycles


def _reached_by(graph: Mapping[str, Mapping[str, Edge]], start: str) -> dict[str, Edge]:
    """Every node reachable from ``start``, with the edge that first reached it (breadth first)."""
    came_by: dict[str, Edge] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target, edge in sorted(graph.get(node, {}).items()):
                if target not in came_by:
                    came_by[target] = edge
                    following.append(target)
        frontier = following
    return came_by


def describe(cycles: list[list[Edge]]) -> str:
    """The cycles as readable chains, each edge with the import that makes it."""
    blocks = []
    for cycle in cycles:
        chain = " -> ".join([cycle[0].source, *(edge.target for edge in cycle)])
        blocks.append(chain + "\n" + "\n".join(f"    {edge}" for edge in cycle))
    return "\n".join(blocks)


def layer_of(package: str) -> int:
    """The index of ``package``'s layer in :data:`LAYERS`."""
    for level, members in enumerate(LAYERS):
        if package in members:
            return level
    message = f"{package} is in no layer; add it to LAYERS in {Path(__file__).name}"
    raise AssertionError(message)


EDGES = import_edges(SOURCE)


class TestTheGraphIsSeen:
    def test_every_kind_of_import_is_an_edge(self, tmp_path):
        """Module-level, function-local, TYPE_CHECKING and relative imports all count."""
        package = tmp_path / "pkg"
        (package / "sub").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "a.py").write_text("from pkg.b import thing\n")
        (package / "b.py").write_text("def f():\n    from pkg import c\n")
        (package / "c.py").write_text(
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import d\n"
        )
        (package / "sub" / "__init__.py").write_text("from . import d\n")
        (package / "sub" / "d.py").write_text("from ..a import x\n")
        found = {(e.source, e.target) for e in import_edges(package)}
        assert found == {
            ("pkg.a", "pkg.b"),
            ("pkg.b", "pkg.c"),
            ("pkg.c", "pkg.sub.d"),
            ("pkg.sub", "pkg.sub.d"),
            ("pkg.sub.d", "pkg.a"),
        }

    def test_a_cycle_is_reported_with_its_imports(self, tmp_path):
        """The failure message names each module of the cycle and the line that imports the next."""
        package = tmp_path / "pkg"
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "a.py").write_text("import pkg.b\n")
        (package / "b.py").write_text("def f():\n    from pkg import a\n")
        cycles = find_cycles(import_edges(package))
        text = describe(cycles)
        assert len(cycles) == 1
        assert text.splitlines()[0] == "pkg.a -> pkg.b -> pkg.a"
        assert "pkg/b.py:2" in text

    def test_the_real_graph_includes_lazy_and_type_only_imports(self):
        """Sanity: the scan of src/ sees a known lazy import and a known type-only import."""
        found = {(e.source, e.target) for e in EDGES}
        assert ("stratloop.factors._timeseries", "stratloop.factors._compiled") in found
        assert ("stratloop.llm", "stratloop.llm.client") in found


class TestNoCycles:
    def test_no_module_imports_itself_through_others(self):
        """No chain of imports leads from a module back to it."""
        cycles = find_cycles(EDGES)
        assert not cycles, "module import cycles:\n" + describe(cycles)

    def test_no_package_imports_itself_through_others(self):
        """No chain of imports leads from a package back to it."""
        cycles = find_cycles(package_edges(EDGES))
        assert not cycles, "package import cycles:\n" + describe(cycles)


class TestLayering:
    def test_every_package_has_a_layer(self):
        """A new package must be placed in LAYERS deliberately."""
        for package in sorted({package_of(module) for module in module_files(SOURCE)}):
            layer_of(package)

    def test_packages_import_only_lower_layers(self):
        """Each import between packages points down the layers."""
        upward = [e for e in package_edges(EDGES) if layer_of(e.target) >= layer_of(e.source)]
        assert not upward, "imports that point up or sideways:\n" + "\n".join(map(str, upward))

    @pytest.mark.parametrize(
        ("lower", "upper"),
        [
            ("stratloop.data", "stratloop.factors"),
            ("stratloop.factors", "stratloop.backtest"),
            ("stratloop.backtest", "stratloop.generation"),
            ("stratloop.backtest", "stratloop.llm"),
            ("stratloop.backtest", "stratloop.loop"),
            ("stratloop.loop", "stratloop.service"),
            ("stratloop.loop", "stratloop.cli"),
        ],
    )
    def test_the_intended_order(self, lower, upper):
        """Data, factors, backtest; generation, LLM and loop above; service and CLI on top."""
        assert layer_of(lower) < layer_of(upper)

    def test_nothing_imports_the_acceptance_package(self):
        """The product never imports the guide's release checks."""
        inward = [e for e in EDGES if package_of(e.target) == ACCEPTANCE != package_of(e.source)]
        assert not inward, "\n".join(map(str, inward))
