"""The guide's daily health checks and production validation, as reports.

- :func:`health_check` reads an environment's latest run (history, audit
  trail), probes its configuration on this machine, asks the service at the
  environment's ``service_url`` when it answers, and judges the phase's
  metrics against the thresholds. No run yet is an error saying what to run.
- :func:`production_validation` is a bounded soak: it runs the loop with the
  phase's flags for the requested hours (or ``max_iterations``, whichever
  comes first), then judges the phase's success criteria the same way. It
  always stops by itself. The hours count from the first committed
  iteration: loading the data, starting the workers and the first batch are
  start-up, not soak, so a short soak on a healthy system judges real
  iterations. A criterion the soak gave no data for says "not enough data";
  only a failure makes the report unhealthy.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

from stratloop.acceptance.probes import measure_probes, service_probes
from stratloop.config.models import StratloopConfig
from stratloop.environments import Environment
from stratloop.errors import RunError
from stratloop.flags import FLAG_VARIABLES, Flags
from stratloop.iteration import IterationRecord
from stratloop.loop import iter_history, list_run_ids, open_run
from stratloop.service.health import (
    Check,
    HealthStatus,
    MetricFigure,
    Monitor,
    judge_metrics,
    overall_status,
)
from stratloop.service.measure import Measurement, measure_audit, measure_counts
from stratloop.service.runtime import LoopService, PartsFactory
from stratloop.service.tally import HistoryTally
from stratloop.service.thresholds import phase_thresholds

__all__ = [
    "MAX_SOAK_ITERATIONS",
    "STARTUP_LIMIT_S",
    "CheckReport",
    "FixedFlags",
    "ReportStatus",
    "health_check",
    "phase_flags",
    "production_validation",
]

MAX_SOAK_ITERATIONS = 10_000_000
"""The iteration cap of a soak run without ``--max-iterations`` (the config's maximum)."""
STARTUP_LIMIT_S = 600.0
"""How long a soak waits for its first committed iteration before giving up."""
_POLL_S = 0.2
_SERVICE_TIMEOUT_S = 2.0
_SERVICE_METRICS = ("memory_growth", "audit_overhead_ms")


ReportStatus: TypeAlias = HealthStatus | Literal["not_enough_data"]
"""A report's status: the service's, or ``not_enough_data`` when nothing could be judged."""


@dataclass(frozen=True, slots=True)
class CheckReport:
    """A health check's or a validation's result, ready to write as JSON."""

    kind: str
    phase: int
    environment: str
    status: ReportStatus
    checks: tuple[Check, ...]
    figures: tuple[MetricFigure, ...]
    facts: Mapping[str, Any]

    @property
    def healthy(self) -> bool:
        """True when the status is healthy (the command exits 0 only then)."""
        return self.status == "healthy"

    def as_dict(self) -> dict[str, Any]:
        """The JSON report: each metric's value, target, alert threshold and verdict."""
        return {
            "check": self.kind,
            "phase": self.phase,
            "environment": self.environment,
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "status": self.status,
            "healthy": self.healthy,
            **dict(self.facts),
            "checks": {c.name: c.as_dict() for c in self.checks},
            "metrics": [f.as_dict() for f in self.figures],
        }


class FixedFlags:
    """A flag source that always returns the same flags (a soak runs one phase)."""

    def __init__(self, flags: Flags) -> None:
        self._flags = flags

    def current(self) -> Flags:
        """The fixed flags."""
        return self._flags


def phase_flags(phase: int) -> Flags:
    """The guide's flags for ``phase``: master on, phases 1..phase on, the rest off."""
    if phase not in {1, 2, 3, 4}:
        raise ValueError(f"phase must be 1-4 but got {phase}")
    return Flags(
        master=True,
        phase1=True,
        phase2=phase >= 2,
        phase3=phase >= 3,
        phase4=phase >= 4,
        source=f"phase {phase} validation",
    )


def _flags_check(phase: int, flags: Mapping[str, Any] | None, where: str) -> Check:
    if flags is None:
        return Check("flags", False, f"{where} recorded no flags", fatal=True)
    off = [n for n in range(1, phase + 1) if not flags.get(f"phase{n}_enabled")]
    if off:
        names = ", ".join(f"phase {n}" for n in off)
        return Check(
            "flags",
            False,
            f"{where} ran with {names} off; enable phases 1-{phase} (see the guide) and "
            "let it run before this check",
            fatal=False,
        )
    return Check("flags", True, f"{where} ran with phases 1-{phase} on", fatal=True)


def _service(url: str) -> tuple[dict[str, Any], dict[str, Measurement]]:
    import httpx  # noqa: PLC0415 - a development dependency, needed only to ask a service

    target = url.rstrip("/") + "/health"
    try:
        response = httpx.get(target, timeout=_SERVICE_TIMEOUT_S)
        payload = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"url": target, "reachable": False, "detail": f"{type(exc).__name__}: {exc}"}, {}
    metrics = payload.get("metrics") or {}
    found = {
        name: Measurement(
            name, metrics[name].get("value"), f"from the service: {metrics[name].get('detail')}"
        )
        for name in _SERVICE_METRICS
        if isinstance(metrics.get(name), Mapping) and metrics[name].get("value") is not None
    }
    facts = {
        "url": target,
        "reachable": True,
        "status": payload.get("status"),
        "run_id": payload.get("run_id"),
    }
    return facts, found


def health_check(
    phase: int, env: Environment, base: dict[str, Any], *, service: bool = True
) -> CheckReport:
    """The guide's ``phaseN_health_check``: the latest run of ``env`` against the phase's metrics.

    Args:
        phase: 2, 3 or 4 (Phase 1's metrics are always included).
        env: the environment (its runs directory, audit path and service URL).
        base: the environment's configuration document (for the Phase 2 probes).
        service: also ask the service at ``env.service_url`` when it answers.

    Raises:
        RunError: the environment has no run yet (the message says what to run).
    """
    runs_dir = env.runs_dir
    ids = list_run_ids(runs_dir)
    if not ids:
        raise RunError(
            f"no run in {runs_dir} for environment {env.name}, so there is nothing to check "
            f"yet: start the loop first (`stratloop serve --environment {env.name}` or "
            f"`stratloop run --environment {env.name}`), then run this check again"
        )
    run_id = ids[-1]
    rundir, config = open_run(runs_dir, run_id)
    tally = HistoryTally(config.generation)
    latest: IterationRecord | None = None
    for latest in iter_history(rundir.history):
        tally.add(latest)
    if latest is None:
        raise RunError(
            f"run {run_id} in {runs_dir} has committed no iteration yet; let it run, "
            "then check again"
        )
    counts = tally.counts()
    run = rundir.read_json(rundir.run)
    measurements = measure_counts(counts)
    measurements.update(measure_audit(Path(config.audit.path), run_id, counts.audited))
    flags = _recorded_flags(latest)
    measurements.update(measure_probes(config, base, flags, {1, phase}))
    facts: dict[str, Any] = {
        "run": {
            "run_id": run_id,
            "status": run.get("status"),
            "iterations": counts.iterations,
            "total": run.get("total"),
            "path": str(rundir.root),
        }
    }
    if service:
        facts["service"], found = _service(env.service_url)
        measurements.update(found)
    figures = judge_metrics(measurements, phase_thresholds(phase))
    checks = (
        _flags_check(phase, latest.flags, f"run {run_id}'s latest iteration"),
        Check(
            "loop",
            run.get("status") != "failed",
            f"run {run_id} is {run.get('status')}"
            + (f": {run.get('message')}" if run.get("message") else ""),
            fatal=True,
        ),
    )
    return CheckReport(
        f"phase{phase}_health",
        phase,
        env.name,
        overall_status(checks, figures),
        checks,
        figures,
        facts,
    )


def _recorded_flags(record: IterationRecord) -> Flags:
    stored = record.flags
    master, phase1, phase2, phase3, phase4 = (bool(stored.get(v, True)) for v in FLAG_VARIABLES)
    return Flags(master, phase1, phase2, phase3, phase4, source="the run's latest record")


def production_validation(
    phase: int,
    config: StratloopConfig,
    base: dict[str, Any],
    *,
    environment: str,
    duration_hours: float,
    max_iterations: int | None = None,
    make_parts: PartsFactory | None = None,
) -> CheckReport:
    """Soak the loop with the phase's flags, then judge the phase's success criteria.

    Args:
        phase: 2, 3 or 4.
        config: the environment's effective configuration.
        base: its document (for the Phase 2 probes).
        environment: the environment's name (for the report).
        duration_hours: how long to run at most.
        max_iterations: stop after this many iterations (default: no cap below
            :data:`MAX_SOAK_ITERATIONS`).
        make_parts: builds the run's parts (default: the real ones).
    """
    flags = phase_flags(phase)
    loop = config.loop.model_copy(update={"iterations": max_iterations or MAX_SOAK_ITERATIONS})
    soak_config = config.model_copy(update={"loop": loop})
    service = LoopService(soak_config, FixedFlags(flags), make_parts=make_parts)
    monitor = Monitor(service, lambda: service_probes(service.config, base))
    monitor.probe()
    started = time.monotonic()
    service.start()
    first = _first_commit(service, started + STARTUP_LIMIT_S)
    reason = _soak(service, first, duration_hours)
    service.stop()
    snapshot = monitor.snapshot()
    state = snapshot.state
    figures = judge_metrics(
        {f.threshold.name: f.measurement for f in snapshot.figures}, phase_thresholds(phase)
    )
    ran = _iterations_check(state.iteration, state.status, first, started)
    checks = (*snapshot.checks, ran)
    facts = {
        "run": {
            "run_id": state.run_id,
            "status": state.status,
            "iterations": state.iteration,
            "path": str(service.runs_dir / state.run_id),
            "audit_path": str(service.audit_path),
        },
        "soak": {
            "duration_hours": duration_hours,
            "max_iterations": max_iterations,
            "startup_s": None if first is None else round(first - started, 3),
            "elapsed_s": round(time.monotonic() - started, 3),
            "stopped_because": reason if state.status != "failed" else "the run failed",
            "flags": flags.raw(),
        },
        "tests": "the guide's test count is checked by `pytest tests/learning -v`, not here",
    }
    status: ReportStatus = overall_status(checks, figures)
    if not ran.passed and not ran.fatal and overall_status(snapshot.checks, figures) == "healthy":
        status = "not_enough_data"
    return CheckReport(
        f"production_validation_phase{phase}",
        phase,
        environment,
        status,
        checks,
        figures,
        facts,
    )


def _running(service: LoopService) -> bool:
    return service.state().status in {"starting", "running"}


def _first_commit(service: LoopService, limit: float) -> float | None:
    """When the first iteration was committed (monotonic), or None: the loop ended or ``limit``."""
    while _running(service) and service.state().iteration == 0:
        if time.monotonic() >= limit:
            return None
        time.sleep(_POLL_S)
    return time.monotonic() if service.state().iteration > 0 else None


def _soak(service: LoopService, first: float | None, duration_hours: float) -> str:
    """Let the loop run ``duration_hours`` past its first commit; say why the soak stopped."""
    if first is None:
        if _running(service):
            return f"no iteration was committed within the {STARTUP_LIMIT_S:g} s start-up limit"
        return "the run ended before committing an iteration"
    deadline = first + duration_hours * 3600.0
    while _running(service):
        if time.monotonic() >= deadline:
            return f"the {duration_hours:g} h duration ended"
        time.sleep(_POLL_S)
    return "the iteration cap was reached"


def _iterations_check(committed: int, status: str, first: float | None, started: float) -> Check:
    """Iterations were committed; none, without a failure, is not enough data (not fatal)."""
    if committed > 0:
        after = "" if first is None else f" (the first {first - started:.1f} s after start)"
        return Check("iterations", True, f"{committed} iterations committed{after}", fatal=True)
    if status == "failed":
        return Check("iterations", False, "0 iterations committed: the run failed", fatal=True)
    return Check(
        "iterations",
        False,
        "not enough data: no iteration was committed, so no criterion could be judged; "
        "check the loop's start-up (data, workers, LLM endpoint) and soak again",
        fatal=False,
    )
