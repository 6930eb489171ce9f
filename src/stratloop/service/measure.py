"""Measure the monitored metrics of a live run: its history and its audit trail.

Two kinds of source, each returning :class:`Measurement` objects keyed by
the metric names of :mod:`stratloop.service.thresholds`:

- :func:`measure_counts`: a run's committed history, folded into a
  :class:`~stratloop.service.tally.HistoryTally` (adherence, silent
  fallbacks, validation errors, strategy selection, error rates);
  :func:`measure_history` folds a history file's records the same way.
- :class:`AuditGauge` / :func:`measure_audit`: the audit trail
  (completeness against the history, violations and chain breaks, disk use,
  whether the HTML report renders). The service keeps one gauge, which
  verifies only what the trail gained since its last measurement.

A metric with nothing to measure is ``None`` with a detail saying why; no
number is ever made up.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratloop.audit import (
    FollowReport,
    TrailFollower,
    TrailReport,
    VerifyReport,
    ViolationReport,
)
from stratloop.config.models import GenerationConfig
from stratloop.errors import AuditFormatError
from stratloop.iteration import IterationRecord
from stratloop.report.audit import build_report, render_report
from stratloop.service.tally import HistoryCounts, HistoryTally

__all__ = [
    "AuditGauge",
    "Measurement",
    "measure_audit",
    "measure_counts",
    "measure_history",
    "share",
]

_HOUR_S = 3600.0
_DAY_S = 86400.0
_REPORT_CHUNK = 2000
"""Records per render of the report check (bounds the records held at once)."""
_AUDIT_METRICS = (
    "audit_completeness",
    "violation_count",
    "disk_usage_bytes_per_day",
    "html_report_success",
)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One metric's value (None: not measured) and how it was obtained."""

    name: str
    value: float | None
    detail: str


def share(name: str, part: int, whole: int, what: str) -> Measurement:
    """``part`` of ``whole`` as a fraction; not measured (None) while ``whole`` is 0."""
    if whole == 0:
        return Measurement(name, None, f"no {what} yet")
    return Measurement(name, part / whole, f"{part}/{whole} {what}")


def measure_history(
    records: Iterable[IterationRecord], generation: GenerationConfig
) -> dict[str, Measurement]:
    """The history-based metrics of one run, from its records (a one-shot check).

    The records go through a :class:`~stratloop.service.tally.HistoryTally`,
    as the service folds them while the run commits them, so both give the
    same figures from the same code.

    Args:
        records: the run's committed history records, in order.
        generation: the run's generation configuration (adherence is measured against it).
    """
    tally = HistoryTally(generation)
    for record in records:
        tally.add(record)
    return measure_counts(tally.counts())


def measure_counts(counts: HistoryCounts) -> dict[str, Measurement]:
    """The history-based metrics from a run's tally (what the service measures on request).

    Args:
        counts: the run's committed history, folded.
    """
    total = counts.iterations
    found: dict[str, Measurement] = {}
    found["config_priority_adherence"] = share(
        "config_priority_adherence", counts.adherent, total, "iterations followed the priority"
    )
    found["silent_fallback_count"] = Measurement(
        "silent_fallback_count",
        float(counts.silent_fallbacks) if total else None,
        f"{counts.silent_fallbacks} silent fallbacks in {total} iterations",
    )
    found["validation_error_rate"] = share(
        "validation_error_rate",
        counts.validation_errors,
        total,
        "iterations failed candidate validation",
    )
    found["strategy_selection_accuracy"] = share(
        "strategy_selection_accuracy",
        counts.pattern_correct,
        counts.pattern_iterations,
        "strategy-pattern selections correct",
    )
    found["error_rate_vs_baseline"] = _error_ratio(counts)
    return found


def _error_ratio(counts: HistoryCounts) -> Measurement:
    new_n = counts.implementations.get("strategy_pattern", 0)
    old_n = counts.implementations.get("procedural", 0)
    new_err = counts.implementation_failures.get("strategy_pattern", 0)
    old_err = counts.implementation_failures.get("procedural", 0)
    name = "error_rate_vs_baseline"
    if new_n == 0 or old_n == 0:
        return Measurement(
            name,
            None,
            f"needs iterations of both implementations in the run ({new_n} strategy pattern, "
            f"{old_n} Phase 1-2); run a baseline with PHASE3_STRATEGY_PATTERN=false first",
        )
    new_rate, old_rate = new_err / new_n, old_err / old_n
    detail = f"error rate {new_rate:.4f} (Phase 3, n={new_n}) vs {old_rate:.4f} (Phase 1-2)"
    if old_rate == 0.0:
        return Measurement(name, 1.0 if new_rate == 0.0 else float("inf"), detail)
    return Measurement(name, new_rate / old_rate, detail)


def measure_audit(audit_path: Path, run_id: str, audited: int) -> dict[str, Measurement]:
    """The audit-trail metrics for run ``run_id``, measured once (a fresh :class:`AuditGauge`).

    Args:
        audit_path: the live audit file (its rotated archives are found next to it).
        run_id: the run whose records are counted.
        audited: that run's committed iterations with Phase 4 on.
    """
    return AuditGauge(audit_path, run_id).measure(audited)


class AuditGauge:
    """The audit-trail metrics of one run, kept current by one incremental verifier.

    Each :meth:`measure` verifies only the records appended since the last
    one (a :class:`~stratloop.audit.TrailFollower`), with the same verdict a
    full verify would give, and keeps aggregates rather than records, so a
    service that runs for days pays for what is new, not for the whole trail.
    Measurements are serialised (one at a time, whatever thread asks).

    Args:
        audit_path: the live audit file (its rotated archives are found next to it).
        run_id: the run whose records are counted.
    """

    def __init__(self, audit_path: Path, run_id: str) -> None:
        self.audit_path = audit_path
        self.run_id = run_id
        self._follower = TrailFollower(audit_path, run_id=run_id)
        self._report = _ReportCheck(audit_path)
        self._measured = False
        self._lock = threading.Lock()

    def measure(self, audited: int) -> dict[str, Measurement]:
        """Refresh the verifier and measure.

        Args:
            audited: the run's committed iterations with Phase 4 on.
        """
        with self._lock:
            self._report.begin()
            try:
                followed = self._follower.refresh(self._report.add)
            except AuditFormatError as exc:
                return _no_trail(self.audit_path, audited, exc)
            html = self._report.finish(followed)
            restarted = self._measured and followed.from_scratch is not None
            self._measured = True
        return {
            "audit_completeness": share(
                "audit_completeness",
                min(followed.run_iterations, audited),
                audited,
                "audited iterations on record",
            ),
            "violation_count": _violations(followed, restarted=restarted),
            "disk_usage_bytes_per_day": _disk_rate(
                followed.verify.trails, followed.first_timestamp, followed.last_timestamp
            ),
            "html_report_success": html,
        }


def _no_trail(audit_path: Path, audited: int, exc: Exception) -> dict[str, Measurement]:
    if audited:
        missing = f"{audited} audited iterations but no trail: {exc}"
        return {
            "audit_completeness": Measurement("audit_completeness", 0.0, missing),
            **{n: Measurement(n, None, missing) for n in _AUDIT_METRICS[1:]},
        }
    reason = f"no audit trail at {audit_path} (Phase 4 has not written yet)"
    return {n: Measurement(n, None, reason) for n in _AUDIT_METRICS}


def _violations(followed: FollowReport, *, restarted: bool) -> Measurement:
    """Violations and chain breaks, plus changes to verified bytes the writer never makes.

    ``restarted``: this measurement verified the trail from scratch again (the detail says why).
    """
    report = followed.verify
    rewrites = followed.rewrites
    detail = (
        f"{report.violations.count} violations, {len(report.breaks)} chain breaks in "
        f"{report.record_count} records"
    )
    if rewrites:
        detail += (
            f"; {len(rewrites)} changes to already-verified audit bytes seen by this "
            f"process (latest: {rewrites[-1]})"
        )
    if restarted:
        detail += f"; verified again from the first record ({followed.from_scratch})"
    return Measurement(
        "violation_count",
        float(report.violations.count + len(report.breaks) + len(rewrites)),
        detail,
    )


def _disk_rate(trails: Sequence[TrailReport], first: str | None, last: str | None) -> Measurement:
    name = "disk_usage_bytes_per_day"
    size = sum(f.stat().st_size for trail in trails for f in trail.files if f.exists())
    if first is None or last is None:
        return Measurement(name, None, "no timestamped records")
    span = max(
        (dt.datetime.fromisoformat(last) - dt.datetime.fromisoformat(first)).total_seconds(),
        _HOUR_S,
    )
    return Measurement(
        name,
        size * _DAY_S / span,
        f"{size} bytes over {span / _HOUR_S:.2f} h of records (span floored at 1 h)",
    )


class _ReportCheck:
    """Whether the HTML report renders: every record goes through the real report code once.

    Re-rendering the whole report every few seconds would re-read every
    record of a multi-day trail. The report is built record by record (summary
    counts, charts, segments, violations), so each record is rendered through
    :func:`~stratloop.report.audit.build_report` and
    :func:`~stratloop.report.audit.render_report` in the measurement it
    arrives in (in chunks of ``_REPORT_CHUNK``), and the trail's integrity
    sections (breaks, torn lines, retention) whenever they change. A failure
    stays failed until the trail is verified from scratch: the full report
    would keep failing on that record.
    """

    def __init__(self, audit_path: Path) -> None:
        self._audit_path = audit_path
        self._failure: str | None = None
        self._pending: list[Mapping[str, Any]] = []
        self._sections: tuple[Any, ...] | None = None
        self._records = self._renders = self._size = 0
        self._new_failure: str | None = None
        self._new_records = self._new_renders = 0

    def begin(self) -> None:
        """Start a measurement."""
        self._pending = []
        self._new_failure = None
        self._new_records = self._new_renders = 0

    def add(self, record: Mapping[str, Any]) -> None:
        """Take one newly verified record; render when a chunk is full."""
        self._pending.append(record)
        if len(self._pending) >= _REPORT_CHUNK:
            self._render(())

    def finish(self, followed: FollowReport) -> Measurement:
        """Render what is left with the integrity sections; the metric for the whole trail."""
        trails = followed.verify.trails
        sections = tuple((t.breaks, t.torn, t.retention) for t in trails)
        if self._pending or followed.from_scratch or sections != self._sections:
            self._render(trails)
            self._sections = sections
        if followed.from_scratch:
            self._failure = self._new_failure
            self._records, self._renders = self._new_records, self._new_renders
        else:
            self._failure = self._failure or self._new_failure
            self._records += self._new_records
            self._renders += self._new_renders
        name = "html_report_success"
        if self._failure is not None:
            return Measurement(name, 0.0, f"the report failed: {self._failure}")
        return Measurement(
            name,
            1.0,
            f"every record rendered through the report ({self._records} records in "
            f"{self._renders} renders; the last {self._size} bytes)",
        )

    def _render(self, trails: tuple[TrailReport, ...]) -> None:
        records, self._pending = tuple(self._pending), []
        verified = VerifyReport(trails, ViolationReport((), ()), records)
        try:
            html = render_report(
                build_report(
                    verified, title="stratloop audit report", sources=[str(self._audit_path)]
                )
            )
        except Exception as exc:  # noqa: BLE001 - any failure of the report code is this metric's
            seqs = (
                f"seqs {records[0].get('seq')}-{records[-1].get('seq')}"
                if records
                else "no records"
            )
            self._new_failure = self._new_failure or (
                f"{type(exc).__name__}: {exc} (rendering {seqs})"
            )
            return
        if not html:
            self._new_failure = self._new_failure or "the report is empty"
        self._new_records += len(records)
        self._new_renders += 1
        self._size = len(html)
