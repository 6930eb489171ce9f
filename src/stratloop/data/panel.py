"""The dates x assets price panel every evaluator and backtest works on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from stratloop._types import FloatPanel
from stratloop.errors import DataError

__all__ = ["Panel"]


@dataclass(frozen=True, slots=True, eq=False)
class Panel:
    """Aligned price fields over strictly increasing dates.

    Args:
        dates: ``datetime64[D]`` array, strictly increasing.
        assets: asset names, one per column.
        fields: field name -> C-contiguous float64 array of shape
            ``(len(dates), len(assets))``; NaN means the asset has no value
            that day. ``close`` is required.
        name: a label for messages and reports.
    """

    dates: npt.NDArray[np.datetime64]
    assets: tuple[str, ...]
    fields: Mapping[str, FloatPanel]
    name: str = "panel"

    def __post_init__(self) -> None:
        if "close" not in self.fields:
            raise DataError(
                f"panel {self.name!r} has no 'close' field; fields: {sorted(self.fields)}"
            )
        shape = (len(self.dates), len(self.assets))
        frozen: dict[str, FloatPanel] = {}
        for key, values in self.fields.items():
            if values.shape != shape:
                raise DataError(
                    f"panel {self.name!r} field {key!r} has shape {values.shape}, expected {shape}"
                )
            array = np.ascontiguousarray(values, dtype=np.float64)
            array.flags.writeable = False
            frozen[key] = array
        object.__setattr__(self, "fields", MappingProxyType(frozen))

    @property
    def close(self) -> FloatPanel:
        """Close prices."""
        return self.fields["close"]

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_dates, n_assets)``."""
        return (len(self.dates), len(self.assets))

    def slice_rows(self, start: int, stop: int) -> Panel:
        """The panel restricted to rows ``start:stop`` (views, no copies)."""
        return Panel(
            dates=self.dates[start:stop],
            assets=self.assets,
            fields={key: values[start:stop] for key, values in self.fields.items()},
            name=self.name,
        )
