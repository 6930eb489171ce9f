"""The one check that a panel is long enough for an expression."""

from __future__ import annotations

from stratloop.data.panel import Panel
from stratloop.errors import DataError

__all__ = ["require_history"]


def require_history(panel: Panel, lookback: int, *, extra: int = 2) -> None:
    """Raise unless the panel has ``lookback + extra`` dates.

    An expression whose longest window is ``lookback`` days produces its first
    value on row ``lookback``; ``extra`` more rows are needed to hold a position
    and see at least one return.

    Args:
        panel: the price panel.
        lookback: the expression's lookback in rows.
        extra: rows needed after the lookback (default 2).

    Raises:
        DataError: naming the panel, its length and what is needed.
    """
    needed = lookback + extra
    if len(panel.dates) < needed:
        raise DataError(
            f"panel {panel.name!r} has {len(panel.dates)} dates but the expression looks back "
            f"{lookback} days, so at least {needed} dates are needed; use a longer date range "
            "or shorter windows"
        )
