"""The one adapter from the legacy v0 dict layout to schema ``version: 1``.

The v0 layout kept ``use_factor_graph`` at the top level and the innovation
rate as a fraction 0-1 in ``llm.innovation_rate``. It is selected by layout
only, never by guessing from a value's size: a document is v0 when it has a
top-level ``use_factor_graph``, or when it has neither ``version`` nor
``generation``. Each conversion emits one :class:`StratloopDeprecationWarning`
naming every key it moved.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping
from typing import Any

from stratloop.config._schema import MISSING
from stratloop.errors import ConfigIssue, ConfigValidationError

__all__ = ["StratloopDeprecationWarning", "convert_legacy", "is_legacy"]


class StratloopDeprecationWarning(FutureWarning):
    """A deprecated configuration layout was converted; shown to users by default."""


def is_legacy(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` uses the v0 layout (decided by its keys, never by values)."""
    if "use_factor_graph" in data:
        return True
    return "version" not in data and "generation" not in data


def convert_legacy(data: Mapping[str, Any], source: str = "<dict>") -> dict[str, Any]:
    """Convert a v0 document to v1 and warn once.

    ``use_factor_graph`` moves to ``generation``; absent, it becomes null (the
    legacy draw). ``llm.innovation_rate`` (a fraction 0-1) becomes
    ``generation.innovation_rate`` in percent. Everything else is kept for the
    v1 validator to check.

    Args:
        data: the v0 document.
        source: where it came from, for the warning and errors.

    Raises:
        ConfigValidationError: the v0 document cannot be converted (rate missing
            or not a fraction, or a ``generation`` section next to top-level keys).
    """
    document = copy.deepcopy(dict(data))
    issues: list[ConfigIssue] = []
    if "generation" in document:
        issues.append(
            ConfigIssue(
                "generation",
                document["generation"],
                "absent in a v0 (legacy) document",
                hint="write either the v0 layout (top-level use_factor_graph) or version: 1",
                source=source,
            )
        )
    if "version" in document:
        issues.append(
            ConfigIssue(
                "version",
                document["version"],
                "absent in a v0 (legacy) document",
                hint="move use_factor_graph under generation: for version 1",
                source=source,
            )
        )
    use_factor_graph = document.pop("use_factor_graph", None)
    llm = document.get("llm")
    llm = dict(llm) if isinstance(llm, Mapping) else llm
    fraction = llm.pop("innovation_rate", MISSING) if isinstance(llm, dict) else MISSING
    if not _is_fraction(fraction):
        issues.append(
            ConfigIssue(
                "llm.innovation_rate",
                fraction,
                "a fraction from 0 to 1 (v0 layout; required)",
                hint="v1 writes generation.innovation_rate in percent, 0-100",
                source=source,
            )
        )
    if issues:
        raise ConfigValidationError(issues)
    if isinstance(llm, dict):
        document["llm"] = llm
    document["version"] = 1
    document["generation"] = {
        "use_factor_graph": use_factor_graph,
        "innovation_rate": float(fraction) * 100.0,
    }
    warnings.warn(
        f"{source}: legacy v0 configuration converted to version 1 "
        f"(use_factor_graph -> generation.use_factor_graph = {use_factor_graph!r}; "
        f"llm.innovation_rate {fraction!r} -> generation.innovation_rate "
        f"{float(fraction) * 100.0:g}%); write the version 1 layout to silence this",
        StratloopDeprecationWarning,
        stacklevel=3,
    )
    return document


def _is_fraction(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    return math.isfinite(value) and 0 <= value <= 1
