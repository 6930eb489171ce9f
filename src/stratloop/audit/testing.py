"""Test helpers: capture the records a trail writes, and a deterministic clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from stratloop.audit import _capture

__all__ = ["StepClock", "capture_records"]


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


class StepClock:
    """A deterministic clock: each call advances ``step`` from ``start`` (UTC).

    Args:
        start: the time before the first call.
        step: how far each call advances.
    """

    def __init__(
        self,
        start: dt.datetime = dt.datetime(2025, 11, 11, 23, 0, tzinfo=dt.UTC),
        step: dt.timedelta = dt.timedelta(minutes=1),
    ) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> dt.datetime:
        """Advance and return the new time."""
        self.now += self.step
        return self.now
