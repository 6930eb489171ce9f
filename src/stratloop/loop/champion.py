"""Champion selection: the best candidate so far by the configured validation metric.

A candidate is eligible when its ``loop.champion_metric`` over the
validation folds (:attr:`~stratloop.iteration.IterationRecord.selection`) is
a finite number and it traded at least ``loop.min_trades`` times in them; it
becomes champion when its score (the metric less the complexity penalty,
``search.complexity_penalty``, zero by default) is strictly higher than the
incumbent's (ties keep the incumbent, so the earliest wins). Its train-block metrics are what
the generators see; no holdout figure exists during a run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from stratloop.generation.context import ChampionSnapshot
from stratloop.iteration import IterationRecord
from stratloop.loop.objective import penalty_of
from stratloop.spec import Candidate

__all__ = ["TRADES_METRIC", "ChampionTracker", "Eligibility", "Offer", "numeric"]

TRADES_METRIC = "n_trades"
"""The selection metric holding the number of trades ``loop.min_trades`` is compared to."""


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether a result may compete for champion, its score, and why not if not."""

    score: float | None
    reason: str | None = None

    @property
    def eligible(self) -> bool:
        """True when the result has a score to compete with."""
        return self.score is not None


@dataclass(frozen=True, slots=True)
class Offer:
    """One evaluated candidate put to a champion rule, with the figures the rule reads.

    Args:
        iteration: the candidate's iteration.
        candidate: the candidate, as its history record holds it.
        train: train-block metrics (what the generators are shown).
        selection: validation metrics (what the rule reads).
        penalty: the complexity penalty subtracted from the metric.
    """

    iteration: int
    candidate: Candidate
    train: Mapping[str, Any]
    selection: Mapping[str, Any]
    penalty: float = 0.0

    @classmethod
    def of(cls, record: IterationRecord) -> Offer | None:
        """What a committed record offers: its evaluated candidate, or None without one."""
        if not record.evaluated or record.candidate is None:
            return None
        return cls(
            record.iteration_num,
            record.candidate,
            record.train or {},
            record.selection or {},
            penalty_of(record.objective),
        )


class ChampionTracker:
    """Keeps the champion; a pure function of the results offered to it, in order.

    Args:
        metric: the validation metric to maximise (``loop.champion_metric``).
        min_trades: the minimum number of validation trades (``loop.min_trades``).
    """

    def __init__(self, metric: str, min_trades: int) -> None:
        self.metric = metric
        self.min_trades = min_trades
        self._snapshot: ChampionSnapshot | None = None
        self._score: float | None = None
        self._selection: Mapping[str, Any] = MappingProxyType({})
        self._train: Mapping[str, Any] = MappingProxyType({})
        self._penalty = 0.0
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
    def penalty(self) -> float:
        """The complexity penalty the champion's score carries (0 without one)."""
        return self._penalty

    @property
    def train(self) -> Mapping[str, Any]:
        """The champion's train-block metrics (empty before the first)."""
        return self._train

    @property
    def selection(self) -> Mapping[str, Any]:
        """The champion's validation metrics, which chose it (empty before the first)."""
        return self._selection

    @property
    def updates(self) -> int:
        """How many times the champion changed."""
        return self._updates

    def eligibility(self, selection: Mapping[str, Any]) -> Eligibility:
        """The score ``selection`` (validation metrics) competes with, or why it cannot."""
        value = selection.get(self.metric)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            return Eligibility(None, f"validation {self.metric} is {value!r}, not a finite number")
        trades = selection.get(TRADES_METRIC)
        if not isinstance(trades, int | float) or trades < self.min_trades:
            return Eligibility(
                None,
                f"{trades!r} validation trades, fewer than loop.min_trades={self.min_trades}",
            )
        return Eligibility(float(value))

    def offer(self, offer: Offer) -> bool:
        """Offer one evaluated candidate; True if it becomes champion."""
        raw = self.eligibility(offer.selection).score
        score = None if raw is None else raw - offer.penalty
        if score is None or (self._score is not None and score <= self._score):
            return False
        self._score = score
        self._penalty = offer.penalty
        self._updates += 1
        self._train, self._selection = offer.train, offer.selection
        self._snapshot = ChampionSnapshot(
            candidate=offer.candidate,
            metrics=MappingProxyType(numeric(offer.train)),
            iteration=offer.iteration,
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
            "train": dict(self._train),
            "validation": dict(self._selection),
        }


def numeric(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric metrics; counts stay ints so they print and serialise as counts."""
    return {
        key: value
        for key, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
