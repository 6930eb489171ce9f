"""What a shadow log's records depend on, so that two logs are compared only when they can match.

A shadow record is a function of four inputs: the data (its fields and assets
bound the factor graph; its universe is what the LLM is told), the
configuration that drives generation (the ``generation`` and ``llm``
sections), the seed schedule (the run seed and the iterations observed: each
iteration draws from its own generator of ``(seed, iteration)``) and the
champion that factor-graph iterations mutate. A log records the first three as
its ``basis`` and the champion beside it. Two logs that differ in any of them
cannot match iteration by iteration, so :func:`basis_differences` names which
input differs and how, instead of letting the comparison report a meaningless
0% equivalence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from stratloop.config.models import StratloopConfig
from stratloop.config.snapshot import snapshot
from stratloop.data.panel import Panel

__all__ = ["SCRIPTED_ENDPOINT", "basis_differences", "log_basis", "panel_digest"]

SCRIPTED_ENDPOINT = "scripted loopback endpoint"
"""What a rehearsal's ``llm.base_url`` is recorded as (its port changes every run)."""

_GENERATION_SECTIONS = ("generation", "llm")
_SHOWN = 5


def panel_digest(panel: Panel) -> str:
    """sha256 (hex, 16 digits) of the panel's dates, assets and every field's values."""
    digest = hashlib.sha256()
    digest.update(panel.dates.astype("datetime64[D]").tobytes())
    digest.update("\x1f".join(panel.assets).encode("utf-8"))
    for name in sorted(panel.fields):
        digest.update(name.encode("utf-8"))
        digest.update(panel.fields[name].tobytes())
    return digest.hexdigest()[:16]


def log_basis(
    config: StratloopConfig, panel: Panel, observed: Iterable[int], *, scripted: bool
) -> dict[str, Any]:
    """The ``basis`` entry of a log written from ``config`` on ``panel``.

    Args:
        config: the effective configuration both sides ran.
        panel: the data the generators were built on.
        observed: the iterations the session observed (a side's log may lack
            one whose generation raised: that is a mismatch, not another schedule).
        scripted: the LLM side asked a loopback scripted endpoint; its URL is
            recorded as :data:`SCRIPTED_ENDPOINT`.
    """
    document = snapshot(config)
    sections = {name: document[name] for name in _GENERATION_SECTIONS}
    if scripted:
        sections["llm"] = {**sections["llm"], "base_url": SCRIPTED_ENDPOINT}
    return {
        "data": {**document["data"], "digest": panel_digest(panel)},
        "config": sections,
        "seed_schedule": {"seed": config.loop.seed, "iterations": _span(sorted(set(observed)))},
    }


def basis_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Which of data, config and seed schedule differ between two log documents, and how.

    A log written before bases were recorded has only its ``seed``; what it
    does not record is not compared.
    """
    old_basis, new_basis = _basis(old), _basis(new)
    if "data" not in old_basis or "data" not in new_basis:
        old_basis = new_basis = {}
        if old.get("seed") != new.get("seed"):
            return [f"seed schedule: seed {old.get('seed')!r} vs {new.get('seed')!r}"]
    found = []
    for part in ("data", "config", "seed_schedule"):
        if part in old_basis and part in new_basis:
            changed = _changed_paths(old_basis[part], new_basis[part])
            if changed:
                found.append(f"{part.replace('_', ' ')}: {_shown(changed)}")
    return found


def _basis(document: Mapping[str, Any]) -> Mapping[str, Any]:
    basis = document.get("basis")
    return basis if isinstance(basis, Mapping) else {}


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _changed_paths(old: Any, new: Any) -> list[str]:
    before, after = _flat(old), _flat(new)
    return [
        f"{path} {before.get(path, '(unset)')!r} vs {after.get(path, '(unset)')!r}"
        for path in sorted(before.keys() | after.keys())
        if before.get(path, "(unset)") != after.get(path, "(unset)")
    ]


def _shown(items: list[str]) -> str:
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return "; ".join(items[:_SHOWN]) + more


def _span(iterations: list[int]) -> str:
    if not iterations:
        return "none"
    if iterations == list(range(iterations[0], iterations[-1] + 1)):
        return f"{iterations[0]}-{iterations[-1]}"
    return f"{len(iterations)} iterations from {iterations[0]} to {iterations[-1]}"
