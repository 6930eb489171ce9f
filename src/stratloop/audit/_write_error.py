"""How a failed disk operation of the writer becomes an error an operator can act on."""

from __future__ import annotations

import errno
from pathlib import Path

from stratloop.errors import AuditWriteError

__all__ = ["write_error"]

_FIXES = {
    errno.ENOSPC: "free disk space or point audit.path at a larger disk",
    errno.EDQUOT: "raise the disk quota or point audit.path elsewhere",
    errno.EROFS: "the file system is read-only; point audit.path at a writable directory",
    errno.EACCES: "make the directory writable or point audit.path elsewhere",
    errno.EPERM: "make the directory writable or point audit.path elsewhere",
}


def write_error(path: Path, exc: OSError, action: str) -> AuditWriteError:
    """The :class:`AuditWriteError` for ``exc`` while trying to ``action`` at ``path``."""
    fix = _FIXES.get(exc.errno or 0, "check the disk and audit.path")
    return AuditWriteError(
        f"could not {action} at {path}: {exc.strerror or exc} (errno {exc.errno}); {fix}. "
        "The loop stops rather than run without its audit record"
    )
