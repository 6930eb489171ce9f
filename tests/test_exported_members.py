"""Every package's public surface: one door, explicitly listed, nothing stray."""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = [
    "stratloop",
    "stratloop.acceptance",
    "stratloop.acceptance.cli",
    "stratloop.acceptance.shadow",
    "stratloop.audit",
    "stratloop.backtest",
    "stratloop.cli",
    "stratloop.config",
    "stratloop.data",
    "stratloop.errors",
    "stratloop.factors",
    "stratloop.flags",
    "stratloop.generation",
    "stratloop.llm",
    "stratloop.loop",
    "stratloop.report",
    "stratloop.service",
    "stratloop.spec",
]


def _isort_key(name: str) -> tuple[int, str]:
    """Ruff's RUF022 order: CONSTANTS, then Classes, then functions and the rest."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


@pytest.mark.parametrize("name", PACKAGES)
class TestExportedMembers:
    def test_all_is_sorted_and_unique(self, name):
        """__all__ is in RUF022 order with no duplicates."""
        names = list(importlib.import_module(name).__all__)
        assert names == sorted(set(names), key=_isort_key)

    def test_every_exported_name_resolves(self, name):
        """Each name in __all__ is an attribute of the package."""
        module = importlib.import_module(name)
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert missing == []

    def test_exported_code_is_our_own(self, name):
        """Exported classes and functions are defined inside the package, not re-exported."""
        module = importlib.import_module(name)
        foreign = [
            n
            for n in module.__all__
            if (inspect.isclass(getattr(module, n)) or inspect.isfunction(getattr(module, n)))
            and not getattr(module, n).__module__.startswith("stratloop")
        ]
        assert foreign == []

    def test_nothing_of_ours_is_public_but_unlisted(self, name):
        """Every class or function of stratloop bound publicly in the module is in __all__."""
        module = importlib.import_module(name)
        unlisted = {
            n
            for n, value in vars(module).items()
            if not n.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value))
            and value.__module__.startswith(name)
            and n not in module.__all__
        }
        assert unlisted == set()
