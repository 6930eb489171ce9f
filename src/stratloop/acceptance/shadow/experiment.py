"""Shadow mode as an experiment: two flag states of the one generation path, side by side.

The control runs with Phase 3 off (:data:`CONTROL_FLAGS`, the procedural
path), the candidate with it on (:data:`CANDIDATE_FLAGS`, the strategy
pattern), both through :func:`~stratloop.generation.generate_iteration`. Each
runs on its own context built from the same configuration, seed, iteration
and champion (the same object), so they see the same random stream and a
factor-graph iteration mutates the same parent, and an LLM question both
sides ask is sent once (:class:`~stratloop.acceptance.shadow.SharedProposals`).
Their outputs are frozen :class:`Observation` objects; a generator's
exception is part of an observation. A failure of the experiment's own
machinery (building a context) goes to one ``raised(operation, error)`` hook
that records it; nothing is logged and forgotten.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

from stratloop.acceptance.shadow.record import ShadowRecord
from stratloop.acceptance.shadow.shared import SharedProposals
from stratloop.config.models import StratloopConfig
from stratloop.flags.model import Flags
from stratloop.generation.context import ChampionSnapshot, GenerationContext
from stratloop.generation.generate import generate_iteration
from stratloop.generation.outcome import GenerationOutcome
from stratloop.generation.strategies import CandidateSource

__all__ = [
    "CANDIDATE_FLAGS",
    "CONTROL_FLAGS",
    "Behaviour",
    "InternalError",
    "Observation",
    "Result",
    "ShadowExperiment",
]

Behaviour: TypeAlias = Callable[[GenerationContext], GenerationOutcome]
"""One side of the experiment: decide and generate one iteration."""

CONTROL_FLAGS = Flags(phase3=False)
"""The control's flag state: Phase 1-2, the procedural path."""

CANDIDATE_FLAGS = Flags()
"""The candidate's flag state: Phase 1-3, the strategy pattern."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What one side produced for one iteration: a record, or the exception it raised."""

    name: str
    record: ShadowRecord | None
    exception: str | None = None


@dataclass(frozen=True, slots=True)
class Result:
    """Control and candidate of one iteration, and how they compare."""

    iteration: int
    control: Observation
    candidate: Observation

    @property
    def mismatched_fields(self) -> tuple[str, ...]:
        """Compared fields that differ; ``exception`` when a side raised and they differ."""
        before, after = self.control, self.candidate
        if before.record is None or after.record is None:
            same = before.exception is not None and before.exception == after.exception
            return () if same else ("exception",)
        return before.record.differences(after.record)[0]

    @property
    def ignored_fields(self) -> tuple[str, ...]:
        """Ignored fields that differ (code-path name, timings)."""
        before, after = self.control.record, self.candidate.record
        return () if before is None or after is None else before.differences(after)[1]

    @property
    def matched(self) -> bool:
        """Decision, method and candidate id agree (ignored fields may differ)."""
        return not self.mismatched_fields

    @property
    def ignored(self) -> bool:
        """Matched, with differences only in ignored fields (code-path name, timings)."""
        return self.matched and bool(self.ignored_fields)


@dataclass(frozen=True, slots=True)
class InternalError:
    """A failure of the experiment's own machinery, as passed to ``raised``."""

    operation: str
    error: str


@dataclass
class ShadowExperiment:
    """Run control and candidate side by side on the same iterations.

    Args:
        config: the configuration both sides run.
        llm: the LLM proposer given to both sides.
        factor_graph: the factor-graph generator given to both sides.
        raised: called with (operation, error) when the experiment itself
            fails; the default records into :attr:`internal_errors`.
        control: the control side: a flag state of the generation path, or a
            behaviour.
        candidate: the candidate side, likewise. Tests inject a deliberately
            different behaviour here to prove mismatches are caught.
        champion: the champion every context of both sides carries, so a
            factor-graph iteration mutates it as the real loop does after its
            first batch; None samples fresh factors instead.
    """

    config: StratloopConfig
    llm: CandidateSource | None
    factor_graph: CandidateSource
    raised: Callable[[str, Exception], None] | None = None
    control: Flags | Behaviour = CONTROL_FLAGS
    candidate: Flags | Behaviour = CANDIDATE_FLAGS
    champion: ChampionSnapshot | None = None
    internal_errors: list[InternalError] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._shared = None if self.llm is None else SharedProposals(self.llm)

    @property
    def llm_calls(self) -> int:
        """Questions that reached the LLM (a question both sides ask counts once)."""
        return 0 if self._shared is None else self._shared.calls

    def run(self, iteration: int) -> Result:
        """Observe both sides on ``iteration``."""
        control = self._observe("control", iteration, self.control)
        candidate = self._observe("candidate", iteration, self.candidate)
        if self._shared is not None:
            self._shared.forget()
        return Result(iteration, control, candidate)

    def _run(self, side: Flags | Behaviour, ctx: GenerationContext) -> GenerationOutcome:
        if isinstance(side, Flags):
            return generate_iteration(ctx, side, llm=self._shared, factor_graph=self.factor_graph)
        return side(ctx)

    def _observe(self, name: str, iteration: int, side: Flags | Behaviour) -> Observation:
        try:
            ctx = GenerationContext.create(self.config, iteration, champion=self.champion)
        except Exception as exc:  # noqa: BLE001 - every internal failure goes to the hook
            self._raised(f"{name}.context", exc)
            return Observation(name, None, _described(exc))
        start = time.perf_counter()
        try:
            outcome = self._run(side, ctx)
        except Exception as exc:  # noqa: BLE001 - the behaviour's exception is observed
            return Observation(name, None, _described(exc))
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        return Observation(name, ShadowRecord.of(iteration, outcome, elapsed_ms))

    def _raised(self, operation: str, error: Exception) -> None:
        if self.raised is not None:
            self.raised(operation, error)
        else:
            self.internal_errors.append(InternalError(operation, _described(error)))


def _described(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"

