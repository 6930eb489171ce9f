"""Sample audit records and trails for the guide's drills, the benchmarks and the tests.

Sample records exercise the trail, not the loop: they go through the real
decision rule (:func:`~stratloop.generation.decision.decide` on the
iteration's own draw) and the real :func:`~stratloop.audit.record.audit_record`,
so they are indistinguishable in shape from the loop's records and free of
violations, without running a backtest per record.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stratloop.audit._canonical import canonical_json, digest
from stratloop.audit.processors import Clock, utc_now
from stratloop.audit.record import AuditRecord, audit_record
from stratloop.audit.writer import AuditTrail
from stratloop.config import snapshot
from stratloop.config.models import AuditConfig, StratloopConfig
from stratloop.generation.context import iteration_rng
from stratloop.generation.decision import decide
from stratloop.generation.outcome import GenerationOutcome
from stratloop.iteration import IterationRecord, Timings
from stratloop.llm.budget import Usage
from stratloop.spec import Candidate, Strategy, TopN

__all__ = [
    "SAMPLE_FLAGS",
    "SAMPLE_LLM_USAGE",
    "SAMPLE_TIMINGS",
    "sample_iteration",
    "sample_record",
    "sample_snapshot",
    "write_sample_trail",
]

SAMPLE_FLAGS: Mapping[str, Any] = {
    "phase1_enabled": True,
    "phase2_enabled": True,
    "phase3_enabled": True,
    "phase4_enabled": True,
    "effective_phase": 4,
}
"""All phases on: the strategy-pattern implementation."""

SAMPLE_TIMINGS = Timings(generate_s=0.0015, validate_s=0.0, evaluate_s=0.012)
"""The stage timings every sample iteration records."""

SAMPLE_LLM_USAGE = Usage(prompt_tokens=800, completion_tokens=120, calls=1)
"""The usage every sample iteration that asked the LLM records."""

_EXPRESSIONS = (
    "rank(ts_mean(returns, 20))",
    "rank(ts_mean(returns, 20)) - rank(ts_std(returns, 60))",
    "-rank(ts_sum(returns, 5))",
)


def sample_iteration(
    iteration_num: int,
    *,
    config_snapshot: Mapping[str, Any],
    seed: int = 42,
    flags: Mapping[str, Any] = SAMPLE_FLAGS,
) -> IterationRecord:
    """A successful iteration decided from ``config_snapshot`` with the iteration's first draw.

    Args:
        iteration_num: the iteration number (also fixes the draw with ``seed``).
        config_snapshot: a snapshot with ``generation.use_factor_graph`` and
            ``generation.innovation_rate``.
        seed: the run seed.
        flags: the effective flags to record.
    """
    generation = config_snapshot["generation"]
    draw = float(iteration_rng(seed, iteration_num).random())
    decision = decide(generation["use_factor_graph"], generation["innovation_rate"], draw)
    expression = _EXPRESSIONS[iteration_num % len(_EXPRESSIONS)]
    sharpe = round(0.5 + (iteration_num % 97) / 100.0, 4)
    return IterationRecord.build(
        iteration_num=iteration_num,
        batch=0,
        timestamp="",
        flags=flags,
        outcome=GenerationOutcome(
            implementation="strategy_pattern",
            decision=decision,
            strategy_selected="MixedStrategy",
            method_used=decision.method,
            candidate=Candidate(
                Strategy(expression=expression, portfolio=TopN(n=5)), method=decision.method
            ),
        ),
        status="evaluated",
        train={"sharpe": sharpe, "annual_return": 0.08, "max_drawdown": -0.2},
        validation={"sharpe": sharpe - 0.2, "annual_return": 0.05, "max_drawdown": -0.25},
        timings=SAMPLE_TIMINGS,
        llm_usage=SAMPLE_LLM_USAGE if decision.method == "llm" else None,
    ).with_champion(iteration_num % 13 == 0)


def sample_record(
    iteration_num: int,
    *,
    run_id: str,
    instance_id: str,
    config_snapshot: Mapping[str, Any],
    config_hash: str,
    seed: int = 42,
    flags: Mapping[str, Any] = SAMPLE_FLAGS,
) -> AuditRecord:
    """The audit record of :func:`sample_iteration` (same arguments) in run ``run_id``."""
    iteration = sample_iteration(
        iteration_num, config_snapshot=config_snapshot, seed=seed, flags=flags
    )
    return audit_record(
        iteration,
        run_id=run_id,
        instance_id=instance_id,
        config_snapshot=config_snapshot,
        config_hash=config_hash,
    )


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
