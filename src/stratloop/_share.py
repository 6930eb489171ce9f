"""A read-only share attribute: one count over another, None while the other is zero.

The counters, the LLM call summaries and the search view all report shares of
their counts ("adherent of iterations", "repaired of proposals"); this is the
one place that divides and decides what an empty denominator gives.
"""

from __future__ import annotations

from typing import Any, Self, overload

__all__ = ["Share"]


class Share:
    """``part / whole`` of the owner's attributes, or None when ``whole`` is zero.

    Args:
        part: the attribute counting the favourable cases (or a tuple of
            attributes that are added).
        whole: the attribute counting all cases.
        doc: what the share means, shown as the attribute's docstring.
    """

    def __init__(self, part: str | tuple[str, ...], whole: str, doc: str) -> None:
        self._part = (part,) if isinstance(part, str) else part
        self._whole = whole
        self.__doc__ = doc

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> Self: ...

    @overload
    def __get__(self, obj: object, owner: type[Any] | None = None) -> float | None: ...

    def __get__(self, obj: object | None, owner: type[Any] | None = None) -> Self | float | None:
        if obj is None:
            return self
        whole = getattr(obj, self._whole)
        if not whole:
            return None
        return float(sum(getattr(obj, name) for name in self._part) / whole)
