"""The one canonical JSON form every hash and every line is built from."""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["GENESIS_HASH", "canonical_json", "digest"]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first record of a trail."""

_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text, no NaN: the same value always gives the same text."""
    return _ENCODER.encode(value)


def digest(text: str) -> str:
    """Hex sha256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode()).hexdigest()
