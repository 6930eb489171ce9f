"""Every package's public surface: one door, explicitly listed, nothing stray, no clashes.

Each package's ``__all__`` lists what other packages, the guide's commands,
the benchmarks or the documentation use; helpers stay in their modules.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

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


def test_one_name_means_one_thing_across_packages():
    """A name exported by two packages is the same object (a re-export), never two concepts."""
    owners: dict[str, dict[int, list[str]]] = {}
    for name in PACKAGES:
        module = importlib.import_module(name)
        for member in module.__all__:
            owners.setdefault(member, {}).setdefault(id(getattr(module, member)), []).append(name)
    clashes = {member: by_id for member, by_id in owners.items() if len(by_id) > 1}
    assert clashes == {}


def test_the_researchers_api_is_complete_and_light():
    """``stratloop`` offers each researcher task, and lists nothing it cannot load."""
    import stratloop  # noqa: PLC0415 - the module under test

    tasks = {
        "load_dataset",
        "load_panel",
        "parse",
        "evaluate",
        "backtest_strategy",
        "load_config",
        "run",
        "describe_run",
        "read_history",
        "verify_trail",
    }
    assert tasks <= set(stratloop.__all__)
    assert "__version__" in stratloop.__all__


def test_every_package_is_placed_in_the_architecture_page():
    """docs/architecture.md's ownership table has a row for each top-level package."""
    root = Path(__file__).parents[1]
    page = (root / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = sorted(
        init.parent.name
        for init in (root / "src" / "stratloop").glob("*/__init__.py")
        if init.parent.name != "shadow"  # shadow mode is described as part of acceptance
    )
    assert [p for p in packages if f"| `{p}` |" not in page] == []
