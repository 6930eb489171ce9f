"""Read price files (CSV or Parquet) or a packaged dataset into a validated panel.

pandas is used for reading only; everything after the read is numpy. The
layouts a file may have are described in :mod:`stratloop.data.frame`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stratloop.data.embedded import DATASETS, load_dataset
from stratloop.data.frame import Layout, panel_from_frame
from stratloop.data.panel import Panel
from stratloop.data.store import is_panel_store, open_panel_store
from stratloop.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_panel"]

_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


def load_panel(
    source: str | Path,
    *,
    layout: Layout = "auto",
    start_date: dt.date | None = None,
    end_date: dt.date | None = None,
) -> Panel:
    """Load a packaged dataset by name, a CSV / CSV.gz / Parquet file or a panel store by path.

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
        if not (path.is_file() or is_panel_store(path)):
            known = ", ".join(sorted(DATASETS))
            raise DataError(
                f"data source {text!r} is neither a packaged dataset ({known}) nor an existing "
                f"file; give a dataset name, a path ending in {', '.join(_SUFFIXES)} or a panel "
                "store directory (`stratloop data import`)"
            )
        panel = _read_panel(path, layout)
        source_name = str(path)
    return _date_range(panel, start_date, end_date, source_name)


def _read_panel(path: Path, layout: Layout) -> Panel:
    """A store directory is memory-mapped; a long Parquet file is read column-wise by pyarrow."""
    if is_panel_store(path):
        return open_panel_store(path)
    if path.name.lower().endswith((".parquet", ".pq")) and layout != "wide":
        from stratloop.data._parquet import read_long_parquet  # noqa: PLC0415 - pyarrow on demand

        panel = read_long_parquet(path)
        if panel is not None:
            return panel
    return panel_from_frame(_read(path), layout=layout, source=str(path))


def _read(path: Path) -> pd.DataFrame:
    import pandas as pd  # noqa: PLC0415 - pandas is loaded only to read files

    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz")):
            _unique_header(path, pd.read_csv(path, nrows=1, header=None).iloc[0].tolist())
            return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read the file: {exc}") from exc
    raise DataError(f"{path}: unknown file type; use one of {', '.join(_SUFFIXES)}")


def _unique_header(path: Path, names: list[object]) -> None:
    """Refuse repeated column names, which pandas would silently rename (``A`` and ``A.1``)."""
    counts = Counter(str(name) for name in names)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise DataError(
            f"{path}: the header repeats the column(s) {', '.join(repeated)}; each asset "
            "or field must appear once (merge or rename the columns)"
        )


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
