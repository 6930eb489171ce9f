"""Module ``__getattr__`` for packages that import some members only on first use.

A package lists ``{member: module}``; the first access imports the module and
caches the member in the package, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
"""Spelled out instead of imported: ``typing`` would cost ``import stratloop`` its speed."""

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, MutableMapping
    from typing import Any

__all__ = ["lazy_members"]


def lazy_members(
    package: str, table: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package``: load a member of ``table`` into ``namespace``."""

    def load(name: str) -> Any:
        module = table.get(name)
        if module is None:
            message = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(message)
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return load
