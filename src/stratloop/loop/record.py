"""One iteration's history record, built from its generation outcome and evaluation.

The record is plain JSON data (see ``docs/loop.md`` for every key). It is the
only thing the loop's state is rebuilt from on resume, so everything a later
iteration depends on must be in it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from stratloop.generation.decision import Decision
from stratloop.generation.outcome import Fallback, GenerationOutcome
from stratloop.loop.champion import candidate_from_record
from stratloop.loop.workers import EvalResult
from stratloop.spec import Candidate

__all__ = ["Generated", "Status", "build_record", "jsonable", "outcome_from_record"]

Status: TypeAlias = Literal[
    "evaluated",
    "generation_failed",
    "validation_failed",
    "evaluation_failed",
    "evaluation_timeout",
]
"""How far an iteration got."""


@dataclass(frozen=True, slots=True)
class Generated:
    """One iteration after generation and validation, waiting for its evaluation.

    Args:
        iteration: the iteration number.
        batch: the batch number (``iteration // loop.batch_size``).
        timestamp: when generation started (UTC, ISO 8601).
        flags: the flags in force (``Flags.as_dict()``).
        audit: whether Phase 4 was in force, i.e. this iteration gets an audit record.
        outcome: what generation produced.
        validation_error: ``(type, message)`` when the candidate failed validation.
        llm_usage: the tokens and cost this iteration's generation spent, if any.
        budget_mode: ``"factor_graph_only"`` once the LLM budget is spent and the
            run goes on without it (a configured, recorded decision).
        generate_s: seconds spent deciding and generating.
        validate_s: seconds spent validating.
    """

    iteration: int
    batch: int
    timestamp: str
    flags: Mapping[str, Any]
    audit: bool
    outcome: GenerationOutcome
    validation_error: tuple[str, str] | None = None
    llm_usage: Mapping[str, Any] | None = None
    budget_mode: str | None = None
    generate_s: float = 0.0
    validate_s: float = 0.0

    @property
    def evaluable(self) -> bool:
        """True when the candidate exists and passed validation."""
        return self.outcome.candidate is not None and self.validation_error is None


def jsonable(value: Any) -> Any:
    """``value`` as strict JSON: NaN/inf become None, tuples lists, numpy scalars Python."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    item = getattr(value, "item", None)
    if callable(item):
        return jsonable(item())
    return str(value)


def _candidate(candidate: Candidate) -> dict[str, Any]:
    return {
        "id": candidate.candidate_id,
        "method": candidate.method,
        "spec": candidate.strategy.model_dump(mode="json"),
        "lineage": {
            "parents": list(candidate.lineage.parents),
            "operator": candidate.lineage.operator,
            "params": jsonable(candidate.lineage.params),
        },
    }


def _status(
    generated: Generated, result: EvalResult | None
) -> tuple[Status, dict[str, str] | None]:
    outcome = generated.outcome
    if outcome.candidate is None:
        return "generation_failed", {
            "stage": "generation",
            "type": outcome.error_type or "GenerationError",
            "message": outcome.error_message or "",
        }
    if generated.validation_error is not None:
        kind, message = generated.validation_error
        return "validation_failed", {"stage": "validation", "type": kind, "message": message}
    assert result is not None
    if result.error_type is None:
        return "evaluated", None
    status: Status = (
        "evaluation_timeout"
        if result.error_type == "EvaluationTimeoutError"
        else "evaluation_failed"
    )
    return status, {
        "stage": "evaluation",
        "type": result.error_type,
        "message": result.error_message or "",
    }


def build_record(generated: Generated, result: EvalResult | None) -> dict[str, Any]:
    """The history record of one iteration, before the champion rule has seen it.

    Args:
        generated: the iteration's generation and validation.
        result: its evaluation, or None when it was not evaluable.
    """
    outcome = generated.outcome
    decision = outcome.decision
    fallback = outcome.fallback
    status, error = _status(generated, result)
    evaluated = result is not None and result.error_type is None
    return {
        "iteration": generated.iteration,
        "batch": generated.batch,
        "timestamp": generated.timestamp,
        "flags": jsonable(generated.flags),
        "implementation": outcome.implementation,
        "decision": {
            "method": decision.method,
            "rule": decision.rule,
            "use_factor_graph": decision.use_factor_graph,
            "innovation_rate": decision.innovation_rate,
            "draw": decision.draw,
            "reason": decision.reason,
        },
        "strategy_selected": outcome.strategy_selected,
        "method_used": outcome.method_used,
        "fallback": None
        if fallback is None
        else {
            "kind": fallback.kind,
            "from_method": fallback.from_method,
            "to_method": fallback.to_method,
            "reason": fallback.reason,
            "error_type": fallback.error_type,
        },
        "generation_error": None
        if outcome.error_type is None
        else {"type": outcome.error_type, "message": outcome.error_message or ""},
        "candidate": None if outcome.candidate is None else _candidate(outcome.candidate),
        "status": status,
        "error": error,
        "train": jsonable(result.train) if evaluated and result is not None else None,
        "test": jsonable(result.test) if evaluated and result is not None else None,
        "champion": False,
        "audited": generated.audit,
        "budget_mode": generated.budget_mode,
        "llm_usage": None if generated.llm_usage is None else jsonable(generated.llm_usage),
        "timings": {
            "generate_s": generated.generate_s,
            "validate_s": generated.validate_s,
            "evaluate_s": None if result is None else result.seconds,
        },
    }


def outcome_from_record(record: Mapping[str, Any]) -> GenerationOutcome:
    """The generation outcome a history record describes (the inverse of :func:`build_record`)."""
    decision = record["decision"]
    fallback = record.get("fallback")
    error = record.get("generation_error") or {}
    candidate = record.get("candidate")
    return GenerationOutcome(
        implementation=record["implementation"],
        decision=Decision(
            method=decision["method"],
            rule=decision["rule"],
            use_factor_graph=decision["use_factor_graph"],
            innovation_rate=decision["innovation_rate"],
            draw=decision["draw"],
            reason=decision["reason"],
        ),
        strategy_selected=record["strategy_selected"],
        method_used=record.get("method_used"),
        candidate=None if candidate is None else candidate_from_record(candidate),
        fallback=None if fallback is None else Fallback(**fallback),
        error_type=error.get("type"),
        error_message=error.get("message"),
    )
