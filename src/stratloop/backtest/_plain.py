"""The JSON mapping of the backtest's frozen records of plain values."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar, Generic, TypeVar

from stratloop._json import jsonable

V = TypeVar("V")

__all__ = ["PlainRecord"]


class PlainRecord(Generic[V]):
    """Base of a frozen dataclass whose fields are plain values (numbers, booleans, text).

    ``V`` is the union of the field types, so readers of :meth:`as_dict` keep them.
    """

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Any]]

    def as_dict(self) -> dict[str, V]:
        """Plain JSON-safe mapping of the fields; a non-finite float (never produced) is None."""
        return {key: jsonable(value) for key, value in asdict(self).items()}
