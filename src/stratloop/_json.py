"""Strict JSON data: what a history line, an audit body and a saved factor may hold.

JSON has no NaN and no tuples, and ``json.dumps(..., allow_nan=False)`` takes
no numpy scalar; every file stratloop writes goes through this one conversion
so they all spell "no value" the same way (null).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["strict_json"]


def strict_json(value: Any) -> Any:
    """``value`` as strict JSON: NaN/inf become None, tuples lists, numpy scalars Python.

    >>> strict_json({"a": (1.5, float("nan")), 2: "x"})
    {'a': [1.5, None], '2': 'x'}
    """
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): strict_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(item) for item in value]
    item = getattr(value, "item", None)
    if callable(item):
        return strict_json(item())
    return str(value)
