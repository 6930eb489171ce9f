"""Read a long-layout Parquet file column by column with pyarrow, without a pandas pivot.

A universe of thousands of assets over decades is tens of millions of rows;
pandas would hold the table, a copy per field and a pivot of each. Here each
column is read once (memory-mapped), dates and assets are dictionary-encoded
and the values are scattered straight into the panel by
:func:`stratloop.data.frame.long_panel`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stratloop._types import FloatPanel
from stratloop.data.frame import ASSET_COLUMNS, LONG_FIELDS, long_panel, parse_dates
from stratloop.data.panel import Panel
from stratloop.errors import DataError

__all__ = ["read_long_parquet"]


def read_long_parquet(path: Path) -> Panel | None:
    """The panel of a long-layout Parquet file, or None when the file has no asset column.

    Raises:
        DataError: the file cannot be read, or a column has the wrong type or values.
    """
    source = str(path)
    try:
        parquet = pq.ParquetFile(path, memory_map=True)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{source}: cannot read the file: {exc}") from exc
    columns = {name.strip().lower(): name for name in parquet.schema_arrow.names}
    asset = next((columns[c] for c in ASSET_COLUMNS if c in columns), None)
    if "date" not in columns or asset is None:
        return None
    if "close" not in columns:
        raise DataError(f"{source}: long layout needs a 'close' column")
    present = [f for f in LONG_FIELDS if f in columns]
    try:
        table = parquet.read(columns=[columns["date"], asset, *(columns[f] for f in present)])
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{source}: cannot read the file: {exc}") from exc
    codes, names = _assets(table.column(asset), source)
    return long_panel(
        _dates(table.column(columns["date"]), source),
        codes,
        names,
        {f: _numbers(table.column(columns[f]), f, source) for f in present},
        source=source,
    )


def _dates(column: pa.ChunkedArray, source: str) -> npt.NDArray[np.datetime64]:
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            column = pc.local_timestamp(column)
        days = pc.cast(column, pa.date32()).to_numpy(zero_copy_only=False)
        return np.asarray(days, dtype="datetime64[D]")
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        encoded = pc.dictionary_encode(column).combine_chunks()
        parsed = parse_dates(encoded.dictionary.to_numpy(zero_copy_only=False), source)
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        result = np.full(len(indices), np.datetime64("NaT"), dtype="datetime64[D]")
        valid = encoded.indices.is_valid().to_numpy(zero_copy_only=False)
        result[valid] = parsed[indices[valid].astype(np.int64)]
        return result
    raise DataError(
        f"{source}: the date column has type {kind}; store dates as a date, a timestamp or "
        "ISO 8601 text (YYYY-MM-DD)"
    )


def _assets(column: pa.ChunkedArray, source: str) -> tuple[npt.NDArray[np.int64], list[str]]:
    if column.null_count:
        row = int(np.flatnonzero(~column.is_valid().to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{source}: the asset on data row {row + 1} is empty; name every asset")
    encoded = pc.dictionary_encode(pc.cast(column, pa.string())).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, [str(name) for name in encoded.dictionary.to_pylist()]


def _numbers(column: pa.ChunkedArray, field: str, source: str) -> FloatPanel:
    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
        raise DataError(
            f"{source}: field column {field!r} has type {kind}, which is not a number; store it "
            "as a float or integer column (null for 'no value')"
        )
    values = pc.cast(column, pa.float64()).combine_chunks()
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
