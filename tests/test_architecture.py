"""The product never imports the acceptance package, not even lazily or by name.

Every module under ``src/stratloop`` outside ``stratloop/acceptance`` is read
as source (parsed, never imported), so an import hidden in a function, a
relative import or a module name handed to ``importlib`` is found as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "stratloop"
ACCEPTANCE = "stratloop.acceptance"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_acceptance(name: str) -> bool:
    return name == ACCEPTANCE or name.startswith(ACCEPTANCE + ".")


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of the docstring nodes of the module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def acceptance_imports(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """Where ``source`` (the module ``module``) imports or names the acceptance package."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {a.name}" for a in node.names if _is_acceptance(a.name)
            ]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
            if any(_is_acceptance(t) for t in targets):
                found.append(f"line {node.lineno}: from {'.' * node.level}{node.module or ''}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docs
            and ACCEPTANCE in node.value
        ):
            found.append(f"line {node.lineno}: names {node.value!r}")
    return found


PRODUCT_MODULES = sorted(
    path for path in PACKAGE.rglob("*.py") if (PACKAGE / "acceptance") not in path.parents
)


def test_the_walk_sees_the_product():
    """The walk finds the product's modules (it cannot pass on an empty list)."""
    names = {_module_name(path) for path in PRODUCT_MODULES}
    assert {"stratloop.cli", "stratloop.service.health", "stratloop.loop.runner"} <= names
    assert not any(_is_acceptance(name) for name in names)


@pytest.mark.parametrize(
    "path", PRODUCT_MODULES, ids=[_module_name(path) for path in PRODUCT_MODULES]
)
def test_no_product_module_imports_the_acceptance_package(path):
    """Neither at the top, nor in a function, nor relatively, nor through importlib."""
    found = acceptance_imports(
        path.read_text(encoding="utf-8"), _module_name(path), is_package=path.name == "__init__.py"
    )
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        "import stratloop.acceptance",
        "from stratloop import acceptance",
        "from stratloop.acceptance.probes import service_probes",
        "def f():\n    from stratloop.acceptance import cli\n",
        "from .. import acceptance",
        "from ..acceptance.health import health_check",
        "import importlib\nimportlib.import_module('stratloop.acceptance.cli')",
        "__import__('stratloop.acceptance')",
    ],
)
def test_the_check_catches_every_spelling(source):
    """Each way of reaching the package is reported, so the test above can fail."""
    assert acceptance_imports(source, "stratloop.service.health") != []


def test_the_check_ignores_docstrings_and_neighbours():
    """A docstring may name the package; ``stratloop.acceptance_x`` is not it."""
    source = '"""See stratloop.acceptance."""\nimport stratloop.acceptance_x\nfrom . import audit\n'
    assert acceptance_imports(source, "stratloop.service.health") == []
