"""'Did you mean' suggestions for misspelt names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(word: str, known: Iterable[str]) -> str | None:
    """``"did you mean ts_mean?"`` for the closest known name, or None."""
    matches = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f"did you mean {matches[0]}?" if matches else None
