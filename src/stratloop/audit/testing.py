"""Test helpers: capture the records a trail writes, like structlog's ``capture_logs``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stratloop.audit import _capture
from stratloop.audit._canonical import canonical_json, digest
from stratloop.audit.processors import Clock, utc_now
from stratloop.audit.samples import sample_record
from stratloop.audit.writer import AuditTrail
from stratloop.config import snapshot
from stratloop.config.models import AuditConfig, StratloopConfig

__all__ = ["StepClock", "capture_records", "sample_snapshot", "write_sample_trail"]


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


def sample_snapshot(rate: float = 20.0, use_factor_graph: bool | None = None) -> dict[str, Any]:
    """The redacted snapshot of a valid configuration with the given decision fields."""
    config = StratloopConfig.model_validate(
        {
            "version": 1,
            "generation": {"use_factor_graph": use_factor_graph, "innovation_rate": rate},
            "llm": {"enabled": True, "base_url": "http://127.0.0.1:9/v1"},
        }
    )
    return snapshot(config)


def write_sample_trail(
    path: Path,
    count: int,
    *,
    config: AuditConfig | None = None,
    snapshot: Mapping[str, Any] | None = None,
    start: int = 0,
    clock: Clock | None = None,
    run_id: str = "run-1",
    instance_id: str = "inst-1",
) -> list[dict[str, Any]]:
    """Write ``count`` sample records through a real :class:`AuditTrail`; return them as written."""
    snap = snapshot if snapshot is not None else sample_snapshot()
    snap_hash = digest(canonical_json(snap))
    audit = config or AuditConfig(path=str(path), fsync="never")
    written = []
    with AuditTrail(
        audit, run_id=run_id, instance_id=instance_id, path=path, clock=clock or utc_now
    ) as trail:
        for iteration in range(start, start + count):
            record = sample_record(
                iteration,
                run_id=run_id,
                instance_id=instance_id,
                config_snapshot=snap,
                config_hash=snap_hash,
            )
            written.append(dict(trail.append(record)))
    return written
