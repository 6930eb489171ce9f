"""Health probes: the guide's checks and drills run live on an environment's configuration.

Conflict detection, the Phase 2 configuration cases, validation, strategy and
audit overheads and shadow-mode equivalence, each measured on this machine
and returned as the service's :class:`~stratloop.service.Measurement`
objects. ``stratloop serve`` finds :func:`service_probes` through the
``stratloop.health_probes`` entry point, so the service reports these
metrics without running guide drills itself; the guide's health checks call
:func:`measure_probes` directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stratloop.acceptance.audit_drills import overhead_drill
from stratloop.acceptance.config_cases import (
    PYDANTIC_PATH,
    backward_compatibility_checks,
    validation_checks,
)
from stratloop.acceptance.shadow import ShadowExperiment
from stratloop.acceptance.strategy_overhead import measure_strategy_overhead
from stratloop.acceptance.validation_overhead import measure_overhead
from stratloop.config import validate_config
from stratloop.config.models import StratloopConfig
from stratloop.errors import ConfigConflictError
from stratloop.flags import Flags
from stratloop.generation.testing import drawing_source
from stratloop.service.measure import Measurement, share

__all__ = ["measure_probes", "service_probes"]

_PROBE_ITERATIONS = 200
_SHADOW_ITERATIONS = 100
_SERVICE_PHASES = (1, 2, 3)
"""The service probes phases 1-3; it measures the audit overhead of its own run's writes."""


def service_probes(config: StratloopConfig, document: Mapping[str, Any]) -> dict[str, Measurement]:
    """The probes ``stratloop serve`` reports (the ``stratloop.health_probes`` entry point).

    Args:
        config: the service's effective configuration.
        document: its configuration document (the environment's locations applied).
    """
    return measure_probes(config, dict(document), Flags(source="probe"), _SERVICE_PHASES)


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
    return share(
        "config_conflict_detection_rate", detected, len(cases), "known conflicts rejected"
    )


def _phase2(base: dict[str, Any]) -> dict[str, Measurement]:

    valid = validation_checks("valid_configs", base)
    rejected = sum(not r.passed for r in valid)
    compat = backward_compatibility_checks(base)
    legacy = [r for r in compat if "legacy" in r.name]
    overhead = measure_overhead(base, _PROBE_ITERATIONS)
    return {
        "false_positive_rate": share(
            "false_positive_rate", rejected, len(valid), "valid configurations rejected"
        ),
        "validation_overhead_ms": Measurement(
            "validation_overhead_ms",
            float(overhead["p99_us"]) / 1000.0,
            f"p99 of {_PROBE_ITERATIONS} validations (Pydantic path); "
            f"p50 {overhead['p50_us']:.1f} us",
        ),
        "config_migration_success": share(
            "config_migration_success",
            sum(r.passed for r in legacy),
            len(legacy),
            "legacy conversion checks passed",
        ),
        "backward_compatibility": share(
            "backward_compatibility",
            sum(r.passed for r in compat),
            len(compat),
            "backward-compatibility checks passed",
        ),
    }


def _phase3(config: StratloopConfig) -> dict[str, Measurement]:

    llm, factor_graph = drawing_source("llm"), drawing_source("factor_graph")
    experiment = ShadowExperiment(config, llm, factor_graph)
    results = [experiment.run(i) for i in range(_SHADOW_ITERATIONS)]
    matched = sum(r.matched for r in results)
    overhead = measure_strategy_overhead(
        config, _PROBE_ITERATIONS, llm=llm, factor_graph=factor_graph
    )
    p99 = overhead.invocation_overhead.p99_us
    errors = len(experiment.internal_errors)
    return {
        "behavioral_equivalence": share(
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
    result = overhead_drill(_PROBE_ITERATIONS, config, flags=flags.as_dict())
    return Measurement(
        "audit_overhead_ms",
        result.p99_us / 1000.0,
        f"p99 of {_PROBE_ITERATIONS} real audit writes (fsync {result.fsync}) on this machine",
    )
