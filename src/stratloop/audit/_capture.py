"""The registry behind :func:`stratloop.audit.testing.capture_records`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["active", "notify"]

active: list[list[Mapping[str, Any]]] = []
"""The lists of every capture in progress, innermost last."""


def notify(record: Mapping[str, Any]) -> None:
    """Hand a written record to every active capture."""
    for sink in active:
        sink.append(record)
