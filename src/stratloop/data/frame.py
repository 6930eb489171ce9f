"""Turn a table read from a price file (wide or long layout) into a validated panel.

Wide layout: a ``Date`` column (any case) and one close-price column per asset.
Long layout: one row per date and asset, with columns ``date``, one of
``asset`` / ``ticker`` / ``symbol``, ``close`` and optionally ``open``,
``high``, ``low``, ``volume`` (any case). ``auto`` picks long when an asset
column is present and wide otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from stratloop.data._validate import check_dates, check_values
from stratloop.data.panel import Panel
from stratloop.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from stratloop._types import FloatPanel

__all__ = [
    "ASSET_COLUMNS",
    "LONG_FIELDS",
    "Layout",
    "long_panel",
    "panel_from_frame",
    "parse_dates",
]

Layout = Literal["auto", "wide", "long"]

ASSET_COLUMNS = ("asset", "ticker", "symbol")
LONG_FIELDS = ("open", "high", "low", "close", "volume")


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
    asset_column = next((columns[c] for c in ASSET_COLUMNS if c in columns), None)
    chosen = layout
    if layout == "auto":
        chosen = "long" if asset_column is not None else "wide"
    if chosen == "long":
        if asset_column is None:
            raise DataError(
                f"{source}: layout 'long' needs an asset column named one of {ASSET_COLUMNS}"
            )
        return _long(frame, columns, asset_column, source)
    return _wide(frame, columns["date"], source)


def parse_dates(values: Any, source: str) -> npt.NDArray[np.datetime64]:
    """Parse ISO 8601 dates only: ``01/02/2020`` is ambiguous and never guessed."""
    import pandas as pd  # noqa: PLC0415 - pandas is loaded only to read files

    try:
        parsed = pd.to_datetime(values, format="ISO8601", errors="raise")
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"{source}: the date column holds a value that is not an ISO 8601 date "
            f"(YYYY-MM-DD): {exc}"
        ) from exc
    series = pd.Series(parsed)
    if series.dt.tz is not None:
        series = series.dt.tz_localize(None)
    return series.to_numpy().astype("datetime64[D]")


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
    dates = parse_dates(frame[date_column], source)
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
    import pandas as pd  # noqa: PLC0415 - pandas is loaded only to read files

    if "close" not in columns:
        raise DataError(f"{source}: long layout needs a 'close' column")
    present = [f for f in LONG_FIELDS if f in columns]
    numbers = _numeric(frame[[columns[f] for f in present]], source, "field")
    codes, names = pd.factorize(frame[asset_column].astype(str))
    return long_panel(
        parse_dates(frame[columns["date"]], source),
        codes,
        [str(name) for name in names],
        {field: numbers[:, i] for i, field in enumerate(present)},
        source=source,
    )


def long_panel(
    dates: npt.NDArray[np.datetime64],
    asset_codes: npt.NDArray[np.integer[Any]],
    asset_names: Sequence[str],
    values: Mapping[str, FloatPanel],
    *,
    source: str,
) -> Panel:
    """Scatter long-layout rows (one per date and asset) into a validated panel.

    Rows may come in any order; the panel's dates are sorted and its assets
    sorted by name. Each (date, asset) pair must appear once: a repeated pair
    is an error, never aggregated.

    Args:
        dates: each row's date (``datetime64[D]``).
        asset_codes: each row's asset, as an index into ``asset_names``.
        asset_names: the distinct asset names.
        values: field name -> each row's value (NaN = no value); ``close`` is required.
        source: the file named in error messages and used as the panel name.
    """
    missing = np.isnat(dates)
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(f"{source}: date on data row {row + 1} is empty or unreadable")
    day, date_of = np.unique(dates.astype("datetime64[D]"), return_inverse=True)
    check_dates(day, source=source)
    by_name = np.argsort(np.asarray(asset_names, dtype=object), kind="stable")
    names = tuple(str(asset_names[i]) for i in by_name)
    position = np.empty(len(by_name), dtype=np.int64)
    position[by_name] = np.arange(len(by_name))
    cell = date_of.astype(np.int64) * len(names) + position[asset_codes]
    order = np.argsort(cell, kind="stable")
    repeated = np.flatnonzero(np.diff(cell[order]) == 0)
    if len(repeated):
        row = int(order[repeated[0] + 1])
        raise DataError(
            f"{source}: asset {asset_names[asset_codes[row]]!r} has more than one row for "
            f"{day[date_of[row]]}; each (date, asset) pair must appear once"
        )
    size = len(day) * len(names)
    fields: dict[str, FloatPanel] = {}
    for field, column in values.items():
        flat = np.full(size, np.nan)
        flat[cell] = column
        fields[field] = flat.reshape(len(day), len(names))
    check_values(fields, day, names, source=source)
    return Panel(dates=day, assets=names, fields=fields, name=source)


def _unique_assets(assets: tuple[str, ...], source: str) -> None:
    seen: set[str] = set()
    for asset in assets:
        if asset in seen:
            raise DataError(f"{source}: asset column {asset!r} appears twice")
        seen.add(asset)
