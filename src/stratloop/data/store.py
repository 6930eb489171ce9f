"""A panel stored as one ``.npy`` file per field, memory-mapped by every reader.

For a large universe, parsing a CSV or Parquet file in each worker costs
seconds and a private copy of the panel per process. ``stratloop data import``
validates the file once and writes a store; every process that opens it maps
the same pages read-only, so N workers share one copy in the page cache.

A store is a directory holding ``panel.json`` (format, name, assets, shape and
a BLAKE2b digest per file) beside ``dates.npy`` and ``<field>.npy``. Opening
a store checks every digest: a file edited or truncated after the import is
an error, never a silently different panel.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from stratloop._fsync import fsync_dir
from stratloop.data.panel import Panel
from stratloop.errors import DataError

__all__ = ["STORE_FORMAT", "is_panel_store", "open_panel_store", "write_panel_store"]

STORE_FORMAT = 1
_META = "panel.json"
_DATES = "dates.npy"
_CHUNK = 8 * 1024 * 1024


def is_panel_store(path: Path) -> bool:
    """Whether ``path`` is a directory written by :func:`write_panel_store`."""
    return path.is_dir() and (path / _META).is_file()


def write_panel_store(panel: Panel, directory: Path) -> Path:
    """Write ``panel`` as a store at ``directory``, which must not exist yet.

    The store is written beside its final name and renamed into place, so a
    crash leaves either no store or a complete one.

    Raises:
        DataError: ``directory`` exists, or the disk refuses the write.
    """
    if directory.exists():
        raise DataError(
            f"{directory} already exists; choose a new directory for the store or remove the "
            "old one"
        )
    staging = directory.with_name(f".{directory.name}.partial-{os.getpid()}")
    try:
        staging.mkdir(parents=True)
        files = {"dates": _save(staging / _DATES, panel.dates.astype("datetime64[D]"))}
        for field, values in panel.fields.items():
            files[field] = _save(staging / f"{field}.npy", values)
        meta = {
            "format": STORE_FORMAT,
            "name": panel.name,
            "assets": list(panel.assets),
            "shape": list(panel.shape),
            "fields": sorted(panel.fields),
            "blake2b": files,
        }
        (staging / _META).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        fsync_dir(staging)
        staging.rename(directory)
        fsync_dir(directory.parent)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"{directory}: cannot write the panel store: {exc}") from exc
    return directory


def open_panel_store(directory: Path) -> Panel:
    """The store's panel, its fields memory-mapped read-only after their digests are checked.

    Raises:
        DataError: the store is incomplete, of another format, or a file differs
            from what was written.
    """
    meta = _meta(directory)
    digests: dict[str, str] = meta["blake2b"]
    shape = tuple(meta["shape"])
    dates = np.load(_checked(directory / _DATES, digests.get("dates")))
    fields = {}
    for field in meta["fields"]:
        values = np.load(_checked(directory / f"{field}.npy", digests.get(field)), mmap_mode="r")
        if values.dtype != np.float64 or values.shape != shape:
            raise DataError(
                f"{directory}: field {field!r} holds {values.dtype} {values.shape}, the store "
                f"says float64 {shape}; import the data again"
            )
        fields[field] = values
    return Panel(dates=dates, assets=tuple(meta["assets"]), fields=fields, name=str(meta["name"]))


def _save(path: Path, values: np.ndarray[Any, Any]) -> str:
    with path.open("wb") as handle:
        np.save(handle, np.ascontiguousarray(values), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    return _digest(path)


def _digest(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=32)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _checked(path: Path, expected: str | None) -> Path:
    try:
        actual = _digest(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the panel store's file: {exc}") from exc
    if actual != expected:
        raise DataError(
            f"{path} has changed since the store was written (digest {actual[:12]}…, expected "
            f"{str(expected)[:12]}…); import the data again with `stratloop data import`"
        )
    return path


def _meta(directory: Path) -> dict[str, Any]:
    try:
        meta = json.loads((directory / _META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{directory}: not a readable panel store ({_META}: {exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise DataError(
            f"{directory}: panel store format {found!r}, this stratloop reads format "
            f"{STORE_FORMAT}; import the data again"
        )
    missing = {"name", "assets", "shape", "fields", "blake2b"} - meta.keys()
    if missing:
        raise DataError(f"{directory}/{_META} lacks {sorted(missing)}; import the data again")
    return meta
