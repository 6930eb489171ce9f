"""Champion selection: the best candidate so far by the configured train-period metric.

A candidate is eligible when its train-period ``loop.champion_metric`` is a
finite number and it traded at least ``loop.min_trades`` times in the train
period; it becomes champion when its score is strictly higher than the
incumbent's (ties keep the incumbent, so the earliest wins). Test-period
metrics are carried beside it and never used to choose.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from stratloop.generation.context import ChampionSnapshot
from stratloop.spec import Candidate

__all__ = ["TRADES_METRIC", "ChampionTracker", "Eligibility"]

TRADES_METRIC = "n_trades"
"""The train-period metric holding the number of trades ``loop.min_trades`` is compared to."""


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether a result may compete for champion, its score, and why not if not."""

    score: float | None
    reason: str | None = None

    @property
    def eligible(self) -> bool:
        """True when the result has a score to compete with."""
        return self.score is not None


class ChampionTracker:
    """Keeps the champion; a pure function of the results offered to it, in order.

    Args:
        metric: the train-period metric to maximise (``loop.champion_metric``).
        min_trades: the minimum number of train-period trades (``loop.min_trades``).
    """

    def __init__(self, metric: str, min_trades: int) -> None:
        self.metric = metric
        self.min_trades = min_trades
        self._snapshot: ChampionSnapshot | None = None
        self._score: float | None = None
        self._updates = 0

    @property
    def snapshot(self) -> ChampionSnapshot | None:
        """The current champion, or None before the first eligible result."""
        return self._snapshot

    @property
    def score(self) -> float | None:
        """The champion's score, or None."""
        return self._score

    @property
    def updates(self) -> int:
        """How many times the champion changed."""
        return self._updates

    def eligibility(self, train: Mapping[str, Any]) -> Eligibility:
        """The score ``train`` competes with, or the reason it cannot compete."""
        value = train.get(self.metric)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            return Eligibility(None, f"train {self.metric} is {value!r}, not a finite number")
        trades = train.get(TRADES_METRIC)
        if not isinstance(trades, int | float) or trades < self.min_trades:
            return Eligibility(
                None, f"{trades!r} train trades, fewer than loop.min_trades={self.min_trades}"
            )
        return Eligibility(float(value))

    def offer(
        self,
        iteration: int,
        candidate: Candidate,
        train: Mapping[str, Any],
        test: Mapping[str, Any],
    ) -> bool:
        """Offer one evaluated candidate; True if it becomes champion.

        Args:
            iteration: the candidate's iteration.
            candidate: the candidate, as its history record holds it.
            train: train-period metrics.
            test: test-period metrics.
        """
        score = self.eligibility(train).score
        if score is None or (self._score is not None and score <= self._score):
            return False
        self._score = score
        self._updates += 1
        self._snapshot = ChampionSnapshot(
            candidate=candidate,
            metrics=MappingProxyType(_numbers(train)),
            test_metrics=MappingProxyType(_numbers(test)),
            iteration=iteration,
        )
        return True

    def as_dict(self) -> dict[str, Any] | None:
        """A JSON view of the champion for ``champion.json``."""
        if self._snapshot is None:
            return None
        snap = self._snapshot
        return {
            "iteration": snap.iteration,
            "candidate_id": snap.candidate.candidate_id,
            "method": snap.candidate.method,
            "spec": snap.candidate.strategy.model_dump(mode="json"),
            "metric": self.metric,
            "score": self._score,
            "train": dict(snap.metrics),
            "test": dict(snap.test_metrics),
        }


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric metrics; counts stay ints so they print and serialise as counts."""
    return {
        key: value
        for key, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
