"""Peak resident memory of the whole process around one call (Linux)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    msg = f"{field} missing from {_STATUS}: this measurement needs Linux"
    raise RuntimeError(msg)


def peak_rss_mb(call: Callable[[], object]) -> float:
    """The process's resident-set high-water mark while ``call`` runs, in MiB.

    Everything resident counts (interpreter, libraries, the data already
    loaded), unlike tracemalloc, which sees only the allocations it traces.
    Writing 5 to clear_refs resets the high-water mark to the current RSS.
    """
    _CLEAR_REFS.write_text("5")
    call()
    return _kib("VmHWM") / 1024
