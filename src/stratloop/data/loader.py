"""Read price files (wide close prices or long OHLCV, CSV or Parquet) into a validated panel.

pandas is used for reading only; everything after the read is numpy.

Wide layout: a ``Date`` column (any case) and one close-price column per asset.
Long layout: one row per date and asset, with columns ``date``, one of
``asset`` / ``ticker`` / ``symbol``, ``close`` and optionally ``open``,
``high``, ``low``, ``volume`` (any case). ``auto`` picks long when an asset
column is present and wide otherwise.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from stratloop.data._validate import check_dates, check_values
from stratloop.data.embedded import DATASETS, load_dataset
from stratloop.data.panel import Panel
from stratloop.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from stratloop._types import FloatPanel

__all__ = ["Layout", "load_panel", "panel_from_frame"]

Layout = Literal["auto", "wide", "long"]

_ASSET_COLUMNS = ("asset", "ticker", "symbol")
_LONG_FIELDS = ("open", "high", "low", "close", "volume")
_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


def load_panel(
    source: str | Path,
    *,
    layout: Layout = "auto",
    start_date: dt.date | None = None,
    end_date: dt.date | None = None,
) -> Panel:
    """Load a packaged dataset by name, or a CSV / CSV.gz / Parquet file by path.

    Args:
        source: a dataset name (see :data:`stratloop.data.DATASETS`) or a file path.
        layout: ``wide``, ``long`` or ``auto`` (see the module docstring).
        start_date: first date kept (inclusive), if set.
        end_date: last date kept (inclusive), if set.

    Raises:
        DataError: the source is neither a dataset nor a readable file, or the
            data fails validation; the message names the file and the problem.
    """
    text = str(source)
    if text in DATASETS:
        panel = load_dataset(text)
        source_name = f"dataset {text!r}"
    else:
        path = Path(text)
        if not path.is_file():
            known = ", ".join(sorted(DATASETS))
            raise DataError(
                f"data source {text!r} is neither a packaged dataset ({known}) nor an existing "
                f"file; give a dataset name or a path ending in {', '.join(_SUFFIXES)}"
            )
        panel = panel_from_frame(_read(path), layout=layout, source=str(path))
        source_name = str(path)
    return _date_range(panel, start_date, end_date, source_name)


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


def _read(path: Path) -> pd.DataFrame:
    import pandas as pd  # noqa: PLC0415 - heavy import kept off the CLI start path

    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read the file: {exc}") from exc
    raise DataError(f"{path}: unknown file type; use one of {', '.join(_SUFFIXES)}")


def _dates(values: pd.Series, source: str) -> np.ndarray:
    """Parse ISO 8601 dates only: ``01/02/2020`` is ambiguous and never guessed."""
    import pandas as pd  # noqa: PLC0415

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
    import pandas as pd  # noqa: PLC0415

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


def _date_range(
    panel: Panel, start_date: dt.date | None, end_date: dt.date | None, source: str
) -> Panel:
    if start_date is None and end_date is None:
        return panel
    if start_date is not None and end_date is not None and start_date > end_date:
        raise DataError(f"{source}: start_date {start_date} is after end_date {end_date}")
    lo = 0 if start_date is None else int(np.searchsorted(panel.dates, np.datetime64(start_date)))
    hi = (
        len(panel.dates)
        if end_date is None
        else int(np.searchsorted(panel.dates, np.datetime64(end_date), side="right"))
    )
    if hi <= lo:
        raise DataError(
            f"{source}: no dates between {start_date} and {end_date}; the data covers "
            f"{panel.dates[0]} to {panel.dates[-1]}"
        )
    sliced = panel.slice_rows(lo, hi)
    empty = np.isnan(sliced.close).all(axis=0)
    if empty.any():
        names = [panel.assets[i] for i in np.flatnonzero(empty)]
        keep = np.flatnonzero(~empty)
        raise DataError(
            f"{source}: between {start_date} and {end_date} these assets have no close price: "
            f"{', '.join(names[:5])}{' …' * (len(names) > 5)}; widen the date range or remove "
            f"them ({len(keep)} assets have prices)"
        )
    return sliced
