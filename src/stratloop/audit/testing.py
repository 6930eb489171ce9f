"""Test helpers: capture the records a trail writes, like structlog's ``capture_logs``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from stratloop.audit import _capture

__all__ = ["capture_records"]


@contextmanager
def capture_records() -> Iterator[list[Mapping[str, Any]]]:
    """Collect every record any trail writes while the block runs.

    Unlike ``capture_logs``, records are still written: the trail's file is
    part of the behaviour under test. Each captured item is the final record
    (stamped, flagged, redacted, chained and hashed), read-only.

    >>> with capture_records() as records:
    ...     pass
    >>> records
    []
    """
    sink: list[Mapping[str, Any]] = []
    _capture.active.append(sink)
    try:
        yield sink
    finally:
        _capture.active.remove(sink)
