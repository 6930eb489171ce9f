"""Data flows from the audit trail to its presentation, never back."""

from __future__ import annotations

import ast
from pathlib import Path

import stratloop.audit

AUDIT = Path(stratloop.audit.__file__).parent


def _imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at module level or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_audit_package_never_imports_the_report_package():
    """No module of stratloop.audit imports stratloop.report (or anything under it)."""
    offenders = {
        path.name: sorted(
            name for name in _imported(path) if name.split(".")[:2] == ["stratloop", "report"]
        )
        for path in sorted(AUDIT.rglob("*.py"))
    }
    assert {name: found for name, found in offenders.items() if found} == {}
