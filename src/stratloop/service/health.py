"""Health: every monitored metric against its threshold, and the overall status.

Status rules (the same for ``/health``, the dashboard and the health checks):

- ``unhealthy``: the loop stopped with an error; an audit write failed.
- ``degraded``: the flags cannot be read (a bad value, a missing flag, a bad
  combination, a missing flags file), so the loop is paused at its next
  iteration boundary until they can; the loop is paused for any reason (the
  ``pause`` check says why: the flags, or consecutive LLM provider failures
  under ``loop.on_consecutive_failures: pause``); more of the latest
  ``loop.failure_rate_window`` iterations than ``loop.max_failure_rate``
  produced no evaluation (the check names the counts by cause); or any metric
  crosses its alert threshold (for example a silent fallback, a violation,
  behavioural equivalence below 95%).
- ``healthy``: none of the above. A metric with no data yet does not count
  against health; it is shown as ``no_data``.

:meth:`Monitor.snapshot` measures all of this at once; the service does not
call it per request but publishes its result (:mod:`stratloop.service.snapshot`).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from stratloop.errors import StratloopError
from stratloop.flags import Flags
from stratloop.service.measure import AuditGauge, Measurement, measure_counts
from stratloop.service.runtime import LoopService, ServiceState
from stratloop.service.tally import HistoryCounts
from stratloop.service.thresholds import THRESHOLDS, Threshold, Verdict

__all__ = [
    "P99_MIN_SAMPLES",
    "PHASE_KEYS",
    "Check",
    "HealthSnapshot",
    "HealthStatus",
    "MetricFigure",
    "Monitor",
    "ProbeProvider",
    "failure_check",
    "health_payload",
    "judge_metrics",
    "overall_status",
    "p99",
]

HealthStatus: TypeAlias = Literal["healthy", "degraded", "unhealthy"]
ProbeProvider: TypeAlias = Callable[[], Mapping[str, Measurement]]
"""Measures what the run's own history and trail cannot (configuration probes), once per run."""
PHASE_KEYS = ("phase1_enabled", "phase2_enabled", "phase3_enabled", "phase4_enabled")
_AUDIT_REFRESH_S = 5.0
_WARMUP_S = 60.0
P99_MIN_SAMPLES = 100
"""Fewer samples make a 99th percentile their maximum: one preempted write would decide it."""


@dataclass(frozen=True, slots=True)
class MetricFigure:
    """One metric's measurement judged against its threshold."""

    threshold: Threshold
    measurement: Measurement

    @property
    def verdict(self) -> Verdict:
        """ok, alert or no_data."""
        return self.threshold.verdict(self.measurement.value)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: value, target, alert threshold, verdict and how it was measured."""
        value = self.measurement.value
        return {
            "metric": self.threshold.name,
            "title": self.threshold.title,
            "phase": self.threshold.phase,
            "unit": self.threshold.unit,
            "value": None if value is None or math.isinf(value) else value,
            "target": self.threshold.target,
            "alert_threshold": self.threshold.alert_text,
            "severity": self.threshold.severity,
            "verdict": self.verdict,
            "detail": self.measurement.detail,
        }


@dataclass(frozen=True, slots=True)
class Check:
    """One named condition of the status rules."""

    name: str
    passed: bool
    detail: str
    fatal: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"status": "pass" if self.passed else "fail", "detail": self.detail}


def p99(samples: Sequence[float]) -> float | None:
    """The 99th percentile (nearest rank) of ``samples``, None when empty."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def judge_metrics(
    measurements: Mapping[str, Measurement], thresholds: Sequence[Threshold] = THRESHOLDS
) -> tuple[MetricFigure, ...]:
    """Judge each threshold's metric; a metric not measured is ``no_data``."""
    return tuple(
        MetricFigure(
            t, measurements.get(t.name) or Measurement(t.name, None, "not measured by this source")
        )
        for t in thresholds
    )


def overall_status(checks: Sequence[Check], figures: Sequence[MetricFigure]) -> HealthStatus:
    """Apply the status rules of the module docstring."""
    if any(not c.passed and c.fatal for c in checks):
        return "unhealthy"
    if any(not c.passed for c in checks) or any(f.verdict == "alert" for f in figures):
        return "degraded"
    return "healthy"


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """Everything ``/health``, ``/metrics`` and the dashboard show, at one moment."""

    status: HealthStatus
    flags: Flags | None
    flags_error: str | None
    state: ServiceState
    checks: tuple[Check, ...]
    figures: tuple[MetricFigure, ...]
    max_failure_rate: float = 1.0
    taken_at: str = ""


def failure_check(counts: HistoryCounts, max_rate: float) -> Check:
    """Whether the share of recent iterations that produced no evaluation is within ``max_rate``.

    The detail names the counts and each cause (``stage/ErrorType``), so a
    run whose LLM became unreachable says so, not just that something failed.
    """
    total, failed = counts.recent, counts.recent_failed
    if total == 0:
        return Check("failure_rate", True, "no iteration committed yet", fatal=False)
    rate = failed / total
    detail = (
        f"{failed} of the last {total} iterations produced no evaluation ({rate:.1%}; "
        f"loop.max_failure_rate is {max_rate:.1%})"
    )
    if failed:
        detail += ": " + ", ".join(f"{cause} {n}" for cause, n in counts.recent_failures.items())
    return Check("failure_rate", rate <= max_rate, detail, fatal=False)


def _failures(counts: HistoryCounts, max_rate: float) -> dict[str, Any]:
    """The failure counts /health shows: the recent window and the whole run, by cause."""
    total = counts.recent
    return {
        "window": total,
        "failed": counts.recent_failed,
        "rate": counts.recent_failed / total if total else None,
        "max_rate": max_rate,
        "by_cause": dict(counts.recent_failures),
        "run_failed": counts.failed,
        "run_by_cause": dict(counts.run_failures),
    }


def health_payload(snapshot: HealthSnapshot) -> dict[str, Any]:
    """The ``/health`` JSON document.

    ``phaseN_enabled`` are the effective phases of the flags read now; when
    the flags cannot be read they are null and ``flags_error`` says why.
    """
    flags = snapshot.flags
    state = snapshot.state
    payload: dict[str, Any] = {"status": snapshot.status}
    if flags is not None:
        view = flags.as_dict()
        payload.update({key: view[key] for key in PHASE_KEYS})
        payload["effective_phase"] = flags.effective_phase
        payload["flags"] = flags.raw()
        payload["flags_source"] = flags.source
    else:
        payload.update(dict.fromkeys(PHASE_KEYS))
        payload["effective_phase"] = None
        payload["flags"] = None
        payload["flags_source"] = None
    payload.update(
        flags_error=snapshot.flags_error,
        run_id=state.run_id,
        loop_status=state.status,
        loop_error=state.error,
        paused=state.paused,
        iteration=state.iteration,
        total_iterations=state.total,
        last_iteration_at=state.last_iteration_at,
        started_at=state.started_at,
        resumed_from=state.resumed_from,
        notes=list(state.notes),
        snapshot_at=snapshot.taken_at,
        failures=_failures(state.history, snapshot.max_failure_rate),
        checks={c.name: c.as_dict() for c in snapshot.checks},
        metrics={f.threshold.name: f.as_dict() for f in snapshot.figures},
    )
    return payload


AUDIT_ROUNDS = 5
"""The run's recent audit writes are judged in up to this many rounds (min of rounds)."""


def _audit_overhead(
    writes: Sequence[float], probes: Mapping[str, Measurement], *, untimed: int = 0
) -> Measurement:
    """The run's own audit-write p99 once it has enough writes for one.

    The recent writes are cut into up to ``AUDIT_ROUNDS`` consecutive rounds of at
    least ``P99_MIN_SAMPLES`` writes, and the lowest round p99 is the figure: a
    shared host's load only adds wall time, and a burst of it falls on some
    rounds, while a write path that is slow itself is slow in every round.
    Before that, the probe's p99 of real writes on this machine stands in,
    saying so; without a probe the metric is not measured yet. ``untimed``
    counts the writes left out because the loop's thread was preempted.
    """
    name = "audit_overhead_ms"
    rounds = min(AUDIT_ROUNDS, len(writes) // P99_MIN_SAMPLES)
    if rounds == 1:
        return Measurement(
            name, p99(writes), f"p99 of the last {len(writes)} audit writes of this run"
        )
    if rounds > 1:
        size = len(writes) // rounds
        tail = writes[len(writes) - rounds * size :]
        figures = [p99(tail[i * size : (i + 1) * size]) or 0.0 for i in range(rounds)]
        shown = ", ".join(f"{value:.3f}" for value in figures)
        return Measurement(
            name,
            min(figures),
            f"p99 of the last {rounds * size} audit writes of this run, the lowest of "
            f"{rounds} rounds of {size} (round p99s {shown} ms)",
        )
    short = f"this run has {len(writes) + untimed} audit writes, a p99 needs {P99_MIN_SAMPLES}"
    if untimed:
        short += f" timed ones ({untimed} preempted by other processes, not timed)"
    probe = probes.get(name)
    if probe is not None and probe.value is not None:
        return Measurement(name, probe.value, f"{probe.detail}; {short}")
    slowest = f" (the slowest took {max(writes):.3f} ms)" if writes else ""
    return Measurement(name, None, f"{short}{slowest}")


class Monitor:
    """Measures a :class:`LoopService`'s run against the thresholds, when asked.

    The service's publisher asks (:mod:`stratloop.service.snapshot`), not
    each request; one-shot checks (production validation) ask directly. The
    probes, when a provider is given, run once (the configuration is fixed
    for the run); the audit-trail measurements are refreshed when iterations
    were committed since, at most every few seconds while the loop runs, and
    at once when it has stopped. One :class:`AuditGauge` serves the process, so
    each refresh verifies only what the trail gained since the last one.

    Args:
        service: the running service.
        probes: measures the configuration probes (None: no probes, their
            metrics show ``no_data``).
    """

    def __init__(self, service: LoopService, probes: ProbeProvider | None = None) -> None:
        self.service = service
        self._provider = probes
        self._probes: dict[str, Measurement] | None = None
        self._audit: tuple[int, float, dict[str, Measurement]] | None = None
        self._gauge: AuditGauge | None = None
        self._memory_base: int | None = None
        self._first_seen: float | None = None
        self._lock = threading.Lock()

    def probe(self) -> None:
        """Run the probes now, if there is a provider (the service does this at start)."""
        if self._provider is None:
            return
        found = dict(self._provider())
        with self._lock:
            self._probes = found

    def snapshot(self) -> HealthSnapshot:
        """Read the flags, the run's state and every metric now."""
        flags: Flags | None = None
        flags_error: str | None = None
        try:
            flags = self.service.flags.current()
        except StratloopError as exc:
            flags_error = str(exc)
        state = self.service.state()
        measurements = self._measure(state)
        figures = judge_metrics(measurements)
        max_rate = self.service.config.loop.max_failure_rate
        checks = (*_checks(flags_error, state), failure_check(state.history, max_rate))
        return HealthSnapshot(
            overall_status(checks, figures),
            flags,
            flags_error,
            state,
            checks,
            figures,
            max_failure_rate=max_rate,
            taken_at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        )

    def _measure(self, state: ServiceState) -> dict[str, Measurement]:
        found = measure_counts(state.history)
        with self._lock:
            probes = dict(self._probes or {})
        found.update(probes)
        found.update(self._audit_figures(state))
        found["audit_overhead_ms"] = _audit_overhead(
            state.audit_write_ms, probes, untimed=state.audit_writes_untimed
        )
        found["memory_growth"] = self._memory(state)
        return found

    def _memory(self, state: ServiceState) -> Measurement:
        """Growth of resident memory since a baseline taken after a warm-up.

        The baseline is the first reading at least a minute after the first
        committed iteration, once imports, caches and the report renderer
        are loaded; growth before that is warm-up, not a trend.
        """
        now = state.memory_now
        if now is None:
            return Measurement("memory_growth", None, "resident memory is not readable here")
        clock = time.monotonic()
        with self._lock:
            if state.iteration > 0 and self._first_seen is None:
                self._first_seen = clock
            warm = self._first_seen is not None and clock - self._first_seen >= _WARMUP_S
            if self._memory_base is None and warm:
                self._memory_base = now
            base = self._memory_base
        if base is None:
            return Measurement(
                "memory_growth",
                None,
                f"baseline taken {_WARMUP_S:g} s after the first iteration (warm-up)",
            )
        return Measurement(
            "memory_growth",
            now / base - 1.0,
            f"resident {now / 1e6:.1f} MB now, {base / 1e6:.1f} MB at the baseline",
        )

    def _audit_figures(self, state: ServiceState) -> dict[str, Measurement]:
        audited = state.history.audited
        now = time.monotonic()
        with self._lock:
            cached = self._audit
        running = state.status in {"starting", "running"}
        if cached is not None and (
            cached[0] == state.iteration or (running and now - cached[1] < _AUDIT_REFRESH_S)
        ):
            return cached[2]
        found = self._gauge_of(state.run_id).measure(audited)
        with self._lock:
            self._audit = (state.iteration, now, found)
        return found

    def _gauge_of(self, run_id: str) -> AuditGauge:
        """The process's gauge for the service's audit path and this run."""
        path = self.service.audit_path
        with self._lock:
            gauge = self._gauge
            if gauge is None or gauge.audit_path != path or gauge.run_id != run_id:
                gauge = self._gauge = AuditGauge(path, run_id)
            return gauge


def _checks(flags_error: str | None, state: ServiceState) -> tuple[Check, ...]:
    writes = state.audit_write_errors
    if flags_error is None:
        flags_detail = "flags read"
    elif state.status in {"starting", "running", "paused"}:
        flags_detail = (
            f"{flags_error}; the loop waits at its next iteration boundary until the flags "
            "read cleanly again"
        )
    else:
        flags_detail = f"{flags_error} (the loop is {state.status})"
    return (
        Check("flags", flags_error is None, flags_detail, fatal=False),
        Check("pause", state.paused is None, state.paused or "the loop is not paused", fatal=False),
        Check(
            "loop",
            state.status != "failed",
            f"loop {state.status}" + (f": {state.error}" if state.error else ""),
            fatal=True,
        ),
        Check(
            "audit_writes",
            not writes,
            f"{len(writes)} audit writes failed; last: {writes[-1]}"
            if writes
            else "no audit write failed",
            fatal=True,
        ),
    )
