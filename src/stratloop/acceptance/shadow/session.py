"""A shadow session: run the experiment over chosen iterations within a time bound.

The guide's shadow commands differ only in which iterations they observe and
for how long: ``generate-logs`` and ``run`` take the first N, the daily
validation a day's own seeded sample, the production run the iterations a
stable-hash percentage selects until its wall-clock duration or iteration cap
is reached. :func:`run_session` is that one loop.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, TypeAlias

from stratloop.acceptance.shadow.compare import Comparison, compare_records
from stratloop.acceptance.shadow.experiment import InternalError, ShadowExperiment
from stratloop.acceptance.shadow.record import ShadowRecord
from stratloop.config.models import StratloopConfig
from stratloop.flags.rollout import bucket
from stratloop.generation.context import ChampionSnapshot
from stratloop.generation.strategies import CandidateSource

__all__ = [
    "ROLLOUT_FLAG",
    "ShadowSession",
    "StopReason",
    "daily_seed",
    "rollout_iterations",
    "run_session",
]

ROLLOUT_FLAG = "PHASE3_STRATEGY_PATTERN"
"""The flag whose stable-hash buckets select the iterations a percentage covers."""

StopReason: TypeAlias = Literal["iterations", "max_iterations", "duration"]
"""Why a session ended: its iterations ran out, it hit its cap, or its time was up."""


@dataclass(frozen=True, slots=True)
class ShadowSession:
    """What a session observed: both sides' records, and how it ended.

    Args:
        control: the procedural path's records, by iteration.
        candidate: the strategy pattern's records, by iteration.
        observed: the iterations run, in order.
        internal_errors: failures of the experiment's own machinery.
        llm_calls: questions that reached the LLM endpoint.
        stopped_by: why the session ended.
        elapsed_s: wall-clock seconds spent.
    """

    control: tuple[ShadowRecord, ...]
    candidate: tuple[ShadowRecord, ...]
    observed: tuple[int, ...]
    internal_errors: tuple[InternalError, ...]
    llm_calls: int
    stopped_by: StopReason
    elapsed_s: float

    def compare(self) -> Comparison:
        """The control against the candidate."""
        return compare_records(self.control, self.candidate)


def run_session(
    config: StratloopConfig,
    llm: CandidateSource | None,
    factor_graph: CandidateSource,
    iterations: Iterable[int],
    *,
    max_iterations: int | None = None,
    duration_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    champion: ChampionSnapshot | None = None,
) -> ShadowSession:
    """Observe control and candidate on ``iterations`` until one of the bounds is reached.

    Args:
        config: the configuration both sides run.
        llm: the LLM proposer, if any.
        factor_graph: the factor-graph generator.
        iterations: the iteration numbers to observe, in order (may be endless
            when a bound is given).
        max_iterations: stop after observing this many; None for no cap.
        duration_s: stop once this many seconds have passed (checked before
            each iteration); None for no time bound.
        clock: seconds, monotonic (injectable so tests need not wait).
        champion: the champion both sides mutate on factor-graph iterations;
            None samples fresh factors.

    Raises:
        ValueError: a bound is negative.
    """
    if max_iterations is not None and max_iterations < 0:
        raise ValueError(f"max_iterations must be >= 0 (or None) but got {max_iterations}")
    if duration_s is not None and duration_s < 0:
        raise ValueError(f"duration_s must be >= 0 (or None) but got {duration_s}")
    experiment = ShadowExperiment(config, llm, factor_graph, champion=champion)
    control: list[ShadowRecord] = []
    candidate: list[ShadowRecord] = []
    observed: list[int] = []
    start = clock()
    stopped_by: StopReason = "iterations"
    for iteration in iterations:
        if max_iterations is not None and len(observed) >= max_iterations:
            stopped_by = "max_iterations"
            break
        if duration_s is not None and clock() - start >= duration_s:
            stopped_by = "duration"
            break
        observed.append(iteration)
        result = experiment.run(iteration)
        if result.control.record is not None:
            control.append(result.control.record)
        if result.candidate.record is not None:
            candidate.append(result.candidate.record)
    return ShadowSession(
        control=tuple(control),
        candidate=tuple(candidate),
        observed=tuple(observed),
        internal_errors=tuple(experiment.internal_errors),
        llm_calls=experiment.llm_calls,
        stopped_by=stopped_by,
        elapsed_s=clock() - start,
    )


def rollout_iterations(seed: int, percentage: float) -> Iterator[int]:
    """The endless stream of iterations a ``percentage`` rollout shadows, in order.

    Iteration ``i`` is in when ``bucket(ROLLOUT_FLAG, f"{seed}:{i}") < percentage``:
    the same stable hash the flag rollouts use, so a run is reproducible and
    10% is a subset of 50%.

    Raises:
        ValueError: ``percentage`` is not in (0, 100].
    """
    if not 0.0 < percentage <= 100.0:
        raise ValueError(f"percentage must be in (0, 100] but got {percentage}")
    return (i for i in itertools.count() if bucket(ROLLOUT_FLAG, f"{seed}:{i}") < percentage)


def daily_seed(seed: int, day: dt.date) -> int:
    """The seed of ``day``'s validation sample: fresh each day, the same on a re-run."""
    digest = hashlib.sha256(f"{seed}:{day.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
