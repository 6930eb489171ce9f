"""The check both exclusive writers (audit trail, run directory) make before they write.

Each holds an ``flock`` on an open descriptor, so the lock follows the inode,
not the path: deleting or replacing the file lets a second process lock a new
one. Before writing, the holder checks that the path still names its inode.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeAlias

__all__ = ["FileId", "file_id", "lost_file"]

FileId: TypeAlias = tuple[int, int]
"""A file's ``(st_dev, st_ino)``: what a lock on an open descriptor is held on."""


def file_id(fd: int) -> FileId:
    """The identity of the file open as ``fd``."""
    stat = os.fstat(fd)
    return (stat.st_dev, stat.st_ino)


def lost_file(path: Path, held: FileId) -> str | None:
    """How ``path`` stopped naming the ``held`` file ("was deleted", ...); None: it still does."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return "was deleted"
    return None if (stat.st_dev, stat.st_ino) == held else "was replaced by another file"
