"""One iteration in flight: generated and validated, waiting for its evaluation.

:meth:`Generated.record` turns it, with its evaluation, into the iteration's
one typed :class:`~stratloop.iteration.IterationRecord`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stratloop.generation.outcome import GenerationOutcome
from stratloop.iteration import IterationRecord, Redundancy, StageError, Status, Timings
from stratloop.llm.budget import Usage
from stratloop.llm.calls import LLMCall
from stratloop.loop.workers import EvalResult

__all__ = ["Generated"]


@dataclass(frozen=True, slots=True)
class Generated:
    """One iteration after generation and validation, waiting for its evaluation.

    Args:
        iteration_num: the iteration number.
        batch: the batch number (``iteration_num // loop.batch_size``).
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
        llm_calls: the records of the LLM calls generation made.
    """

    iteration_num: int
    batch: int
    timestamp: str
    flags: Mapping[str, Any]
    audit: bool
    outcome: GenerationOutcome
    validation_error: tuple[str, str] | None = None
    llm_usage: Usage | None = None
    budget_mode: str | None = None
    generate_s: float = 0.0
    validate_s: float = 0.0
    llm_calls: tuple[LLMCall, ...] = ()

    @property
    def evaluable(self) -> bool:
        """True when the candidate exists and passed validation."""
        return self.outcome.candidate is not None and self.validation_error is None

    def record(
        self, result: EvalResult | None, redundancy: Redundancy | None = None
    ) -> IterationRecord:
        """The iteration's record, before the champion rule has seen it.

        Args:
            result: its evaluation, or None when it was not evaluable.
            redundancy: set when the evaluated signal nearly duplicates an
                evaluated candidate's: the iteration is ``redundant``, its
                metrics are not kept and it is no new trial.
        """
        status, error = self._status(result)
        if status == "evaluated" and redundancy is not None:
            status = "redundant"
        else:
            redundancy = None
        evaluated = status == "evaluated" and result is not None
        return IterationRecord.build(
            iteration_num=self.iteration_num,
            batch=self.batch,
            timestamp=self.timestamp,
            flags=self.flags,
            outcome=self.outcome,
            status=status,
            error=error,
            train=result.train if evaluated and result is not None else None,
            validation=result.validation if evaluated and result is not None else None,
            folds=result.folds if evaluated and result is not None else (),
            audited=self.audit,
            budget_mode=self.budget_mode,
            llm_usage=self.llm_usage,
            redundancy=redundancy,
            fingerprint=result.fingerprint if evaluated and result is not None else None,
            llm_calls=self.llm_calls,
            timings=Timings(
                generate_s=self.generate_s,
                validate_s=self.validate_s,
                evaluate_s=None if result is None else result.seconds,
            ),
        )

    def _status(self, result: EvalResult | None) -> tuple[Status, StageError | None]:
        outcome = self.outcome
        if outcome.exhausted:
            return "exhausted", StageError(
                "generation", outcome.error_type or "", outcome.error_message or ""
            )
        if outcome.candidate is None:
            return "generation_failed", StageError(
                "generation", outcome.error_type or "GenerationError", outcome.error_message or ""
            )
        if self.validation_error is not None:
            kind, message = self.validation_error
            return "validation_failed", StageError("validation", kind, message)
        if result is None:
            raise AssertionError("an evaluable iteration was committed without its evaluation")
        if result.error_type is None:
            return "evaluated", None
        status: Status = (
            "evaluation_timeout"
            if result.error_type == "EvaluationTimeoutError"
            else "evaluation_failed"
        )
        return status, StageError("evaluation", result.error_type, result.error_message or "")
