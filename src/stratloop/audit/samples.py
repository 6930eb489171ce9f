"""Sample records for drills that exercise the trail, not the loop.

The rotation drill writes 10,000 records and the overhead benchmark times
thousands of appends; running the learning loop for each would measure the
backtest, not the audit trail. Samples go through the real decision rule
(:func:`~stratloop.generation.decision.decide` on the iteration's own draw)
and the real :func:`~stratloop.audit.record.build_record`, so they are
indistinguishable in shape from the loop's records and free of violations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stratloop.audit.record import AuditRecord, build_record
from stratloop.generation.context import iteration_rng
from stratloop.generation.decision import Decision, decide
from stratloop.generation.outcome import GenerationOutcome
from stratloop.spec import Candidate, Strategy, TopN

__all__ = ["SAMPLE_FLAGS", "rebuild_record", "sample_outcome", "sample_record"]

SAMPLE_FLAGS: Mapping[str, Any] = {
    "phase1_enabled": True,
    "phase2_enabled": True,
    "phase3_enabled": True,
    "phase4_enabled": True,
    "effective_phase": 4,
}
"""All phases on: the strategy-pattern implementation."""

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
    candidate = Candidate(
        Strategy(expression=expression, portfolio=TopN(n=5)), method=decision.method
    )
    outcome = GenerationOutcome(
        implementation="strategy_pattern",
        decision=decision,
        strategy_selected="MixedStrategy",
        method_used=decision.method,
        candidate=candidate,
    )
    sharpe = round(0.5 + (iteration_num % 97) / 100.0, 4)
    return build_record(
        iteration_num=iteration_num,
        run_id=run_id,
        instance_id=instance_id,
        outcome=outcome,
        status="success",
        metrics={
            "train": {"sharpe": sharpe, "annual_return": 0.08, "max_drawdown": -0.2},
            "test": {"sharpe": sharpe - 0.2, "annual_return": 0.05, "max_drawdown": -0.25},
        },
        timings={"generate_ms": 1.5, "backtest_ms": 12.0, "total_ms": 14.0},
        config_snapshot=config_snapshot,
        config_hash=config_hash,
        flags=flags,
        champion=iteration_num % 13 == 0,
        llm_usage=(
            {"prompt_tokens": 800, "completion_tokens": 120, "total_tokens": 920}
            if decision.method == "llm"
            else None
        ),
    )


def sample_outcome(record: AuditRecord) -> GenerationOutcome:
    """The generation outcome a sample record was built from, rebuilt from its fields."""
    decision = Decision(**record.decision)
    candidate = Candidate(
        Strategy(expression=record.outcome["expression"], portfolio=TopN(n=5)),
        method=decision.method,
    )
    return GenerationOutcome(
        implementation="strategy_pattern",
        decision=decision,
        strategy_selected=record.strategy_selected,
        method_used=decision.method,
        candidate=candidate,
    )


def rebuild_record(
    sample: AuditRecord,
    outcome: GenerationOutcome,
    *,
    run_id: str,
    instance_id: str,
    config_snapshot: Mapping[str, Any],
    config_hash: str,
    flags: Mapping[str, Any],
) -> AuditRecord:
    """Build a sample's record again: the unit of work overhead measurements time."""
    return build_record(
        iteration_num=sample.iteration_num,
        run_id=run_id,
        instance_id=instance_id,
        outcome=outcome,
        status="success",
        metrics=sample.outcome["metrics"],
        timings={"generate_ms": 1.5, "backtest_ms": 12.0, "total_ms": 14.0},
        config_snapshot=config_snapshot,
        config_hash=config_hash,
        flags=flags,
        champion=False,
        llm_usage=sample.llm_usage,
    )
