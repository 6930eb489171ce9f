"""Turn a table read from a price file (wide or long layout) into a validated panel.

Wide layout: a ``Date`` column (any case) and one close-price column per asset.
Long layout: one row per date and asset, with columns ``date``, one of
``asset`` / ``ticker`` / ``symbol``, ``close`` and optionally ``open``,
``high``, ``low``, ``volume`` (any case). ``auto`` picks long when an asset
column is present and wide otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from stratloop.data._validate import check_dates, check_values
from stratloop.data.panel import Panel
from stratloop.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from stratloop._types import FloatPanel

__all__ = ["Layout", "panel_from_frame"]

Layout = Literal["auto", "wide", "long"]

_ASSET_COLUMNS = ("asset", "ticker", "symbol")
_LONG_FIELDS = ("open", "high", "low", "close", "volume")


def panel_from_frame(frame: pd.DataFrame, *, layout: Layout = "auto", source: str) -> Panel:
    """Build a validated panel from a frame read from ``source``.

    Args:
        frame: the table as read, one column per file column.
        layout: ``wide``, ``long`` or ``auto``.
        source: the file named in error messages and used as the panel name.
    """
    columns: dict[str, object] = {str(c).strip().lower(): c for c in frame.columns}
    if "date" not in columns:
        raise DataError(
            f"{source}: no 'date' column; columns are {[str(c) for c in frame.columns][:10]}"
        )
    asset_column = next((columns[c] for c in _ASSET_COLUMNS if c in columns), None)
    chosen = layout
    if layout == "auto":
        chosen = "long" if asset_column is not None else "wide"
    if chosen == "long":
        if asset_column is None:
            raise DataError(
                f"{source}: layout 'long' needs an asset column named one of {_ASSET_COLUMNS}"
            )
        return _long(frame, columns, asset_column, source)
    return _wide(frame, columns["date"], source)


def _dates(values: pd.Series, source: str) -> np.ndarray:
    """Parse ISO 8601 dates only: ``01/02/2020`` is ambiguous and never guessed."""
    import pandas as pd  # noqa: PLC0415 - pandas is loaded only to read files

    try:
        parsed = pd.to_datetime(values, format="ISO8601", errors="raise")
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"{source}: the date column holds a value that is not an ISO 8601 date "
            f"(YYYY-MM-DD): {exc}"
        ) from exc
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.to_numpy().astype("datetime64[D]")


def _numeric(frame: pd.DataFrame, source: str, what: str) -> FloatPanel:
    import pandas as pd  # noqa: PLC0415 - pandas is loaded only to read files

    for column in frame.columns:
        converted = pd.to_numeric(frame[column], errors="coerce")
        bad = converted.isna() & frame[column].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{source}: {what} column {column!r} holds {frame[column].iloc[row]!r} on data "
                f"row {row + 1}, which is not a number; leave the cell empty for 'no value'"
            )
    return np.ascontiguousarray(frame.apply(pd.to_numeric).to_numpy(dtype=np.float64))


def _wide(frame: pd.DataFrame, date_column: object, source: str) -> Panel:
    dates = _dates(frame[date_column], source)
    check_dates(dates, source=source)
    values = frame.drop(columns=[date_column])
    if values.shape[1] == 0:
        raise DataError(f"{source}: no asset columns besides the date column")
    assets = tuple(str(c) for c in values.columns)
    _unique_assets(assets, source)
    fields = {"close": _numeric(values, source, "price")}
    check_values(fields, dates, assets, source=source)
    return Panel(dates=dates, assets=assets, fields=fields, name=source)


def _long(
    frame: pd.DataFrame, columns: dict[str, object], asset_column: object, source: str
) -> Panel:
    if "close" not in columns:
        raise DataError(f"{source}: long layout needs a 'close' column")
    present = [f for f in _LONG_FIELDS if f in columns]
    table = frame[[columns["date"], asset_column, *(columns[f] for f in present)]].copy()
    table.columns = ["date", "asset", *present]
    table["date"] = _dates(table["date"], source)
    table["asset"] = table["asset"].astype(str)
    duplicated = table.duplicated(["date", "asset"])
    if duplicated.any():
        row = table[duplicated].iloc[0]
        raise DataError(
            f"{source}: asset {row['asset']!r} has more than one row for {row['date'].date()}; "
            "each (date, asset) pair must appear once"
        )
    numbers = _numeric(table[present], source, "field")
    table[present] = numbers
    # pivot, not pivot_table: duplicates were rejected above and must never be aggregated
    wide = {f: table.pivot(index="date", columns="asset", values=f) for f in present}  # noqa: PD010
    close = wide["close"]
    dates = close.index.to_numpy().astype("datetime64[D]")
    assets = tuple(str(a) for a in close.columns)
    fields = {f: np.ascontiguousarray(wide[f].to_numpy(dtype=np.float64)) for f in present}
    check_dates(dates, source=source)
    check_values(fields, dates, assets, source=source)
    return Panel(dates=dates, assets=assets, fields=fields, name=source)


def _unique_assets(assets: tuple[str, ...], source: str) -> None:
    seen: set[str] = set()
    for asset in assets:
        if asset in seen:
            raise DataError(f"{source}: asset column {asset!r} appears twice")
        seen.add(asset)
