"""Measure the guide's monitored metrics from real data: a run's history, its audit trail, probes.

Three kinds of source, each returning :class:`Measurement` objects keyed by
the metric names of :mod:`stratloop.service.thresholds`:

- :func:`measure_history`: a run's committed history records (adherence,
  silent fallbacks, validation errors, strategy selection, error rates).
- :func:`measure_audit`: the audit trail (completeness against the history,
  violations and chain breaks, disk use, whether the HTML report renders).
- :func:`measure_probes`: live measurements on the environment's
  configuration on this machine (conflict detection, the Phase 2 checks,
  validation, strategy and audit overheads, shadow-mode equivalence).

A metric with nothing to measure is ``None`` with a detail saying why; no
number is ever made up.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratloop.config.models import GenerationConfig, StratloopConfig
from stratloop.flags import Flags

__all__ = [
    "EXPECTED_STRATEGY",
    "Measurement",
    "measure_audit",
    "measure_history",
    "measure_probes",
]

EXPECTED_STRATEGY: Mapping[bool | None, str] = {
    True: "FactorGraphStrategy",
    False: "LLMStrategy",
    None: "MixedStrategy",
}
"""The strategy the factory must select for each ``use_factor_graph`` value."""

_FAILED = frozenset({"generation_failed", "evaluation_failed", "evaluation_timeout"})
_HOUR_S = 3600.0
_DAY_S = 86400.0
_PROBE_ITERATIONS = 200
_SHADOW_ITERATIONS = 100


@dataclass(frozen=True, slots=True)
class Measurement:
    """One metric's value (None: not measured) and how it was obtained."""

    name: str
    value: float | None
    detail: str


def _share(name: str, part: int, whole: int, what: str) -> Measurement:
    if whole == 0:
        return Measurement(name, None, f"no {what} yet")
    return Measurement(name, part / whole, f"{part}/{whole} {what}")


def measure_history(
    records: Sequence[Mapping[str, Any]], generation: GenerationConfig
) -> dict[str, Measurement]:
    """The history-based metrics of one run.

    Args:
        records: the run's committed history records, in order.
        generation: the run's generation configuration (adherence is measured against it).
    """
    from stratloop.loop.counters import LoopCounters  # noqa: PLC0415 - numpy-heavy

    counters = LoopCounters(generation)
    for record in records:
        counters.add(record)
    snap = counters.snapshot()
    total = len(records)
    found: dict[str, Measurement] = {}
    found["config_priority_adherence"] = _share(
        "config_priority_adherence", snap["adherent"], total, "iterations followed the priority"
    )
    found["silent_fallback_count"] = Measurement(
        "silent_fallback_count",
        float(snap["silent_fallbacks"]) if total else None,
        f"{snap['silent_fallbacks']} silent fallbacks in {total} iterations",
    )
    found["validation_error_rate"] = _share(
        "validation_error_rate",
        snap["validation_errors"],
        total,
        "iterations failed candidate validation",
    )
    pattern = [r for r in records if r.get("implementation") == "strategy_pattern"]
    right = sum(
        r.get("strategy_selected") == EXPECTED_STRATEGY[r["decision"]["use_factor_graph"]]
        for r in pattern
    )
    found["strategy_selection_accuracy"] = _share(
        "strategy_selection_accuracy", right, len(pattern), "strategy-pattern selections correct"
    )
    found["error_rate_vs_baseline"] = _error_ratio(records)
    return found


def _error_ratio(records: Iterable[Mapping[str, Any]]) -> Measurement:
    counts = {"strategy_pattern": [0, 0], "procedural": [0, 0]}
    for record in records:
        pair = counts.get(str(record.get("implementation")))
        if pair is not None:
            pair[0] += record.get("status") in _FAILED
            pair[1] += 1
    (new_err, new_n), (old_err, old_n) = counts["strategy_pattern"], counts["procedural"]
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
    """The audit-trail metrics for run ``run_id``.

    Args:
        audit_path: the live audit file (its rotated archives are found next to it).
        run_id: the run whose records are counted.
        audited: that run's committed iterations with Phase 4 on.
    """
    from stratloop.audit import verify_trail  # noqa: PLC0415
    from stratloop.errors import AuditFormatError  # noqa: PLC0415

    names = ("audit_completeness", "violation_count", "disk_usage_bytes_per_day")
    try:
        report = verify_trail(audit_path, keep_records=True)
    except AuditFormatError as exc:
        if audited:
            missing = f"{audited} audited iterations but no trail: {exc}"
            return {
                "audit_completeness": Measurement("audit_completeness", 0.0, missing),
                **{n: Measurement(n, None, missing) for n in names[1:]},
                "html_report_success": Measurement("html_report_success", None, missing),
            }
        reason = f"no audit trail at {audit_path} (Phase 4 has not written yet)"
        return {n: Measurement(n, None, reason) for n in (*names, "html_report_success")}
    mine = {r.get("iteration_num") for r in report.records if r.get("run_id") == run_id}
    return {
        "audit_completeness": _share(
            "audit_completeness", min(len(mine), audited), audited, "audited iterations on record"
        ),
        "violation_count": Measurement(
            "violation_count",
            float(report.violations.count + len(report.breaks)),
            f"{report.violations.count} violations, {len(report.breaks)} chain breaks in "
            f"{report.record_count} records",
        ),
        "disk_usage_bytes_per_day": _disk_rate(report.trails, report.records),
        "html_report_success": _report_renders(audit_path),
    }


def _disk_rate(trails: Sequence[Any], records: Sequence[Mapping[str, Any]]) -> Measurement:
    name = "disk_usage_bytes_per_day"
    size = sum(f.stat().st_size for trail in trails for f in trail.files if f.exists())
    stamps = sorted(str(r["timestamp"]) for r in records if r.get("timestamp"))
    if not stamps:
        return Measurement(name, None, "no timestamped records")
    first = dt.datetime.fromisoformat(stamps[0])
    last = dt.datetime.fromisoformat(stamps[-1])
    span = max((last - first).total_seconds(), _HOUR_S)
    return Measurement(
        name,
        size * _DAY_S / span,
        f"{size} bytes over {span / _HOUR_S:.2f} h of records (span floored at 1 h)",
    )


def _report_renders(audit_path: Path) -> Measurement:
    from stratloop.audit.report import write_report  # noqa: PLC0415
    from stratloop.errors import StratloopError  # noqa: PLC0415

    name = "html_report_success"
    with tempfile.TemporaryDirectory(prefix="stratloop-health-") as directory:
        output = Path(directory) / "report.html"
        try:
            write_report([audit_path], output)
        except (StratloopError, OSError) as exc:
            return Measurement(name, 0.0, f"the report failed: {type(exc).__name__}: {exc}")
        if output.stat().st_size == 0:
            return Measurement(name, 0.0, "the report is empty")
        return Measurement(name, 1.0, f"report rendered ({output.stat().st_size} bytes)")


def measure_probes(
    config: StratloopConfig, base: dict[str, Any], flags: Flags, phases: Iterable[int]
) -> dict[str, Measurement]:
    """Live measurements on the environment's configuration, for the given phases.

    Args:
        config: the effective configuration.
        base: its document (as the Phase 2 checks take it).
        flags: the flags in force (recorded with the audit overhead drill).
        phases: which phases' probes to run (1-4).
    """
    wanted = set(phases)
    found: dict[str, Measurement] = {}
    if 1 in wanted:
        found["config_conflict_detection_rate"] = _conflicts(base)
    if 2 in wanted:
        found.update(_phase2(base))
    if 3 in wanted:
        found.update(_phase3(config))
    if 4 in wanted:
        found["audit_overhead_ms"] = _audit_overhead(config, flags)
    return found


def _conflicts(base: dict[str, Any]) -> Measurement:
    from stratloop.config import validate_config  # noqa: PLC0415
    from stratloop.config.checks import PYDANTIC_PATH  # noqa: PLC0415
    from stratloop.errors import ConfigConflictError  # noqa: PLC0415

    llm_off = {**dict(base.get("llm") or {}), "enabled": False}
    cases = (
        {"generation": {**base["generation"], "use_factor_graph": True, "innovation_rate": 100}},
        {"generation": {**base["generation"], "use_factor_graph": False}, "llm": llm_off},
        {
            "generation": {**base["generation"], "use_factor_graph": None, "innovation_rate": 50},
            "llm": llm_off,
        },
    )
    detected = 0
    for case in cases:
        try:
            validate_config({**base, **case}, flags=PYDANTIC_PATH, source="conflict probe")
        except ConfigConflictError:
            detected += 1
    return _share(
        "config_conflict_detection_rate", detected, len(cases), "known conflicts rejected"
    )


def _phase2(base: dict[str, Any]) -> dict[str, Measurement]:
    from stratloop.config.checks import (  # noqa: PLC0415
        backward_compatibility_checks,
        measure_overhead,
        validation_checks,
    )

    valid = validation_checks("valid_configs", base)
    rejected = sum(not r.passed for r in valid)
    compat = backward_compatibility_checks(base)
    legacy = [r for r in compat if "legacy" in r.name]
    overhead = measure_overhead(base, _PROBE_ITERATIONS)
    return {
        "false_positive_rate": _share(
            "false_positive_rate", rejected, len(valid), "valid configurations rejected"
        ),
        "validation_overhead_ms": Measurement(
            "validation_overhead_ms",
            float(overhead["p99_us"]) / 1000.0,
            f"p99 of {_PROBE_ITERATIONS} validations (Pydantic path); "
            f"p50 {overhead['p50_us']:.1f} us",
        ),
        "config_migration_success": _share(
            "config_migration_success",
            sum(r.passed for r in legacy),
            len(legacy),
            "legacy conversion checks passed",
        ),
        "backward_compatibility": _share(
            "backward_compatibility",
            sum(r.passed for r in compat),
            len(compat),
            "backward-compatibility checks passed",
        ),
    }


def _phase3(config: StratloopConfig) -> dict[str, Measurement]:
    from stratloop.generation.overhead import measure_strategy_overhead  # noqa: PLC0415
    from stratloop.generation.testing import drawing_source  # noqa: PLC0415
    from stratloop.shadow import ShadowExperiment  # noqa: PLC0415

    llm, factor_graph = drawing_source("llm"), drawing_source("factor_graph")
    experiment = ShadowExperiment(config, llm, factor_graph)
    results = [experiment.run(i) for i in range(_SHADOW_ITERATIONS)]
    matched = sum(r is not None and r.matched for r in results)
    overhead = measure_strategy_overhead(
        config, _PROBE_ITERATIONS, llm=llm, factor_graph=factor_graph
    )
    p99 = overhead.invocation_overhead.p99_us
    errors = len(experiment.internal_errors)
    return {
        "behavioral_equivalence": _share(
            "behavioral_equivalence",
            matched,
            len(results),
            f"shadow iterations matched ({errors} internal errors)",
        ),
        "strategy_overhead_ms": Measurement(
            "strategy_overhead_ms",
            p99 / 1000.0,
            f"p99 invocation overhead of {overhead.strategy} over {_PROBE_ITERATIONS} calls",
        ),
    }


def _audit_overhead(config: StratloopConfig, flags: Flags) -> Measurement:
    from stratloop.audit.drills import overhead_drill  # noqa: PLC0415
    from stratloop.config import snapshot  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="stratloop-health-") as directory:
        result = overhead_drill(
            _PROBE_ITERATIONS,
            config.audit,
            Path(directory),
            snapshot=snapshot(config),
            flags=flags.as_dict(),
        )
    return Measurement(
        "audit_overhead_ms",
        result.p99_us / 1000.0,
        f"p99 of {_PROBE_ITERATIONS} real audit writes (fsync {result.fsync}) on this machine",
    )
