"""Durability helpers shared by the writers (audit trail, run directories)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_dir", "write_synced"]


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable by syncing the directory itself."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path: Path, data: bytes, *, append: bool = False) -> None:
    """Write (or append) ``data`` to ``path`` and fsync it before returning.

    Raises:
        OSError: the file could not be written or synced.
    """
    with path.open("ab" if append else "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
