"""The frozen context one iteration's generation works from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from stratloop.config.models import StratloopConfig
from stratloop.spec import Candidate

__all__ = ["ChampionSnapshot", "Feedback", "GenerationContext", "iteration_rng"]


def iteration_rng(seed: int, iteration: int) -> np.random.Generator:
    """The iteration's own generator, derived from ``(run seed, iteration)``.

    The same pair always gives the same stream, whichever implementation or
    worker consumes it; the decision always takes the first draw.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, iteration])))


@dataclass(frozen=True, slots=True)
class ChampionSnapshot:
    """The best candidate so far and its train-block metrics, as seen when a batch started.

    Only train-block figures reach the generators; the validation folds that
    chose it are not shown, and no holdout figure exists during a run.
    """

    candidate: Candidate
    metrics: Mapping[str, float]
    iteration: int = 0


@dataclass(frozen=True, slots=True)
class Feedback:
    """One recent result shown to the LLM: what was tried and how it went."""

    iteration: int
    expression: str
    method: str
    score: float | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class GenerationContext:
    """Everything one iteration's generation may look at; nothing it may change.

    Args:
        config: the validated configuration in force for this iteration.
        iteration: the iteration number, from 0.
        seed: the run seed; with ``iteration`` it fixes ``rng``.
        rng: the iteration's generator; its first draw is the decision's.
        champion: the champion snapshot of the batch, if any.
        feedback: recent results, oldest first.
        extras: free-form, read-only hints for generators (e.g. the data's fields).
    """

    config: StratloopConfig
    iteration: int
    seed: int
    rng: np.random.Generator
    champion: ChampionSnapshot | None = None
    feedback: tuple[Feedback, ...] = ()
    extras: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def create(
        cls,
        config: StratloopConfig,
        iteration: int,
        *,
        seed: int | None = None,
        champion: ChampionSnapshot | None = None,
        feedback: tuple[Feedback, ...] = (),
        extras: Mapping[str, Any] | None = None,
    ) -> GenerationContext:
        """Build the context with its per-iteration generator."""
        run_seed = config.loop.seed if seed is None else seed
        return cls(
            config=config,
            iteration=iteration,
            seed=run_seed,
            rng=iteration_rng(run_seed, iteration),
            champion=champion,
            feedback=feedback,
            extras=MappingProxyType(dict(extras or {})),
        )
