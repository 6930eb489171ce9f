"""Iteration records built by the loop's own code, for tests that read or fold history."""

from __future__ import annotations

import dataclasses
import functools

from stratloop.flags import Flags
from stratloop.generation.decision import decide
from stratloop.generation.outcome import Fallback, GenerationOutcome
from stratloop.iteration import IterationRecord
from stratloop.loop.record import Generated
from stratloop.loop.workers import EvalResult
from stratloop.spec import Candidate, Lineage, Strategy, TopN

METRICS = {"sharpe": 0.81, "annual_return": 0.12, "max_drawdown": 0.3, "n_trades": 320}


@functools.cache
def kinds() -> tuple[IterationRecord, ...]:
    """One record per kind of iteration, as the loop builds them.

    An evaluated Phase 3 factor-graph iteration, a failed validation, a failed
    generation (Phase 1-2, explicit fallback, not audited) and a failed evaluation.
    """
    flags = Flags(source="test").as_dict()
    candidate = Candidate(
        Strategy(expression="rank(ts_mean(returns, 20))", portfolio=TopN(n=5)),
        "factor_graph",
        Lineage(operator="sample", params={"factor": "momentum", "n": 20}),
    )
    made = GenerationOutcome(
        "strategy_pattern", decide(True, 0.0, 0.42), "FactorGraphStrategy", "factor_graph",
        candidate,
    )
    failed = GenerationOutcome(
        "procedural",
        decide(None, 50.0, 0.1),
        "procedural",
        None,
        None,
        Fallback("explicit", "llm", "factor_graph", "configured", "LLMUnavailableError"),
        "FactorGraphError",
        "no valid child after 25 attempts",
    )
    ok = EvalResult(0, METRICS, METRICS, 0.01)
    cases = (
        (Generated(0, 0, "", flags, True, made), ok),
        (Generated(0, 0, "", flags, True, made, ("ExpressionError", "bad window")), None),
        (Generated(0, 0, "", flags, False, failed), None),
        (
            Generated(0, 0, "", flags, True, made),
            EvalResult(0, None, None, 0.2, "BacktestError", "x"),
        ),
    )
    return tuple(generated.record(result) for generated, result in cases)


def record_at(i: int, kind: int = 0, **changes: object) -> IterationRecord:
    """The ``kind``-th record as iteration ``i`` (batch ``i // 8``), with ``changes`` applied."""
    base = kinds()[kind]
    return dataclasses.replace(
        base,
        iteration_num=i,
        batch=i // 8,
        timestamp=f"2026-01-01T00:00:00.{i:06d}+00:00",
        **changes,  # type: ignore[arg-type]
    )


def line_at(i: int, kind: int = 0) -> bytes:
    """The history line of :func:`record_at`, newline included."""
    return record_at(i, kind).to_json().encode() + b"\n"
