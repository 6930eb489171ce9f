"""Sample records for drills that exercise the trail, not the loop.

The rotation drill writes 10,000 records and the overhead benchmark times
thousands of appends; running the learning loop for each would measure the
backtest, not the audit trail. Samples go through the real decision rule
(:func:`~stratloop.generation.decision.decide` on the iteration's own draw)
and the real :func:`~stratloop.audit.record.audit_record`, so they are
indistinguishable in shape from the loop's records and free of violations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stratloop.audit.record import AuditRecord, audit_record
from stratloop.generation.context import iteration_rng
from stratloop.generation.decision import Decision, decide
from stratloop.generation.outcome import GenerationOutcome
from stratloop.iteration import IterationRecord, Timings
from stratloop.llm.budget import Usage
from stratloop.spec import Candidate, Strategy, TopN

__all__ = ["SAMPLE_FLAGS", "rebuild_record", "sample_iteration", "sample_record"]

SAMPLE_FLAGS: Mapping[str, Any] = {
    "phase1_enabled": True,
    "phase2_enabled": True,
    "phase3_enabled": True,
    "phase4_enabled": True,
    "effective_phase": 4,
}
"""All phases on: the strategy-pattern implementation."""

_TIMINGS = Timings(generate_s=0.0015, validate_s=0.0, evaluate_s=0.012)
_LLM_USAGE = Usage(prompt_tokens=800, completion_tokens=120, calls=1)

_EXPRESSIONS = (
    "rank(ts_mean(returns, 20))",
    "rank(ts_mean(returns, 20)) - rank(ts_std(returns, 60))",
    "-rank(ts_sum(returns, 5))",
)


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
    """A successful iteration decided from ``config_snapshot`` with the iteration's first draw.

    Args:
        iteration_num: the iteration number (also fixes the draw with ``seed``).
        run_id: the run id.
        instance_id: the instance id.
        config_snapshot: a snapshot with ``generation.use_factor_graph`` and
            ``generation.innovation_rate``.
        config_hash: its hash.
        seed: the run seed.
        flags: the effective flags to record.
    """
    generation = config_snapshot["generation"]
    draw = float(iteration_rng(seed, iteration_num).random())
    decision = decide(generation["use_factor_graph"], generation["innovation_rate"], draw)
    expression = _EXPRESSIONS[iteration_num % len(_EXPRESSIONS)]
    sharpe = round(0.5 + (iteration_num % 97) / 100.0, 4)
    iteration = IterationRecord.build(
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
        test={"sharpe": sharpe - 0.2, "annual_return": 0.05, "max_drawdown": -0.25},
        timings=_TIMINGS,
        llm_usage=_LLM_USAGE if decision.method == "llm" else None,
    ).with_champion(iteration_num % 13 == 0)
    return rebuild_record(
        iteration,
        run_id=run_id,
        instance_id=instance_id,
        config_snapshot=config_snapshot,
        config_hash=config_hash,
    )


def sample_iteration(record: AuditRecord) -> IterationRecord:
    """The iteration record a sample audit record projects, rebuilt from its fields."""
    decision = Decision(**record.decision)
    metrics = record.outcome["metrics"]
    return IterationRecord(
        iteration_num=record.iteration_num,
        batch=0,
        timestamp="",
        flags=record.flags,
        outcome=GenerationOutcome(
            implementation="strategy_pattern",
            decision=decision,
            strategy_selected=record.strategy_selected,
            method_used=decision.method,
            candidate=Candidate(
                Strategy(expression=record.outcome["expression"], portfolio=TopN(n=5)),
                method=decision.method,
            ),
        ),
        status="evaluated",
        timings=_TIMINGS,
        train=metrics["train"],
        test=metrics["test"],
        llm_usage=_LLM_USAGE if record.llm_usage is not None else None,
    )


def rebuild_record(
    iteration: IterationRecord,
    *,
    run_id: str,
    instance_id: str,
    config_snapshot: Mapping[str, Any],
    config_hash: str,
) -> AuditRecord:
    """Project a sample iteration to its audit record: the unit of work overhead drills time."""
    return audit_record(
        iteration,
        run_id=run_id,
        instance_id=instance_id,
        config_snapshot=config_snapshot,
        config_hash=config_hash,
    )
