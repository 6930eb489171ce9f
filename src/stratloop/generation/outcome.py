"""What one iteration's generation produced, whichever implementation ran."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from stratloop._types import GenerationMethod
from stratloop.generation.decision import Decision
from stratloop.spec import Candidate

__all__ = ["Fallback", "FallbackKind", "GenerationOutcome", "Implementation", "Repeat"]

Implementation: TypeAlias = Literal["legacy", "procedural", "strategy_pattern"]
"""Phase 0, Phase 1-2 and Phase 3 code paths."""

FallbackKind: TypeAlias = Literal["explicit", "silent"]
"""Explicit: configured by ``on_llm_failure`` and recorded. Silent: the legacy path's habit."""


@dataclass(frozen=True, slots=True)
class Fallback:
    """A switch from the decided method to another one, and why."""

    kind: FallbackKind
    from_method: GenerationMethod
    to_method: GenerationMethod
    reason: str
    error_type: str | None = None


@dataclass(frozen=True, slots=True)
class Repeat:
    """A candidate a generator proposed that repeats one already tried in the run.

    Args:
        candidate: the candidate proposed (never evaluated).
        of_iteration: the iteration whose candidate it repeats.
    """

    candidate: Candidate
    of_iteration: int


@dataclass(frozen=True, slots=True)
class GenerationOutcome:
    """Decision, selection and result of one iteration's generation.

    Args:
        implementation: which code path ran.
        decision: the method the rule mandated, with its draw and reason.
        strategy_selected: the strategy class (Phase 3) or code path that ran,
            e.g. ``MixedStrategy`` or ``procedural``.
        method_used: the generator that produced ``candidate``; None on failure.
        candidate: the candidate, or None when generation failed.
        fallback: set when ``method_used`` differs from ``decision.method``.
        error_type: the error class name when generation failed (or fell back).
        error_message: the error's message, secrets never included.
        repeats: the candidates rejected as repeats before ``candidate``, in order.
    """

    implementation: Implementation
    decision: Decision
    strategy_selected: str
    method_used: GenerationMethod | None
    candidate: Candidate | None
    fallback: Fallback | None = None
    error_type: str | None = None
    error_message: str | None = None
    repeats: tuple[Repeat, ...] = ()

    @property
    def exhausted(self) -> bool:
        """True when every candidate the generator was asked for repeated a tried one."""
        return self.candidate is None and self.error_type == "RepeatedCandidateError"

    @property
    def succeeded(self) -> bool:
        """True when a candidate was produced."""
        return self.candidate is not None
