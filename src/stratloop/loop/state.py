"""The loop's state as a pure function of the committed history.

The live loop and a resume both build the state the same way: by applying
iteration records, in order, exactly as they read back from ``history.jsonl``.
That is what makes a resumed run identical to an uninterrupted one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import replace

from stratloop.config.models import StratloopConfig
from stratloop.errors import RunError
from stratloop.generation.context import ChampionSnapshot, Feedback
from stratloop.iteration import IterationRecord
from stratloop.llm.budget import Usage
from stratloop.loop.archive import Archive, Elite
from stratloop.loop.champion import ChampionTracker
from stratloop.loop.counters import LoopCounters
from stratloop.loop.objective import ComplexityPenalty, parsed, penalty_of
from stratloop.loop.trials import TrialLedger
from stratloop.spec import Candidate

__all__ = ["FEEDBACK_SIZE", "LoopState"]

FEEDBACK_SIZE = 8
"""How many recent results the generators see as feedback."""


class LoopState:
    """Champion, archive, recent feedback, counters and trials after the records applied so far.

    Args:
        config: the run's configuration.
    """

    def __init__(self, config: StratloopConfig) -> None:
        self.champion = ChampionTracker(config.loop.champion_metric, config.loop.min_trades)
        self.counters = LoopCounters(config.generation)
        self.trials = TrialLedger(config.search)
        self.penalty = ComplexityPenalty.from_config(
            config.loop.champion_metric, config.search.complexity_penalty
        )
        archive = config.search.archive
        self.archive = Archive.empty(archive) if archive.enabled else None
        self._batch_size = config.loop.batch_size
        self._batch_archive = self.archive
        self._feedback: deque[Feedback] = deque(maxlen=FEEDBACK_SIZE)
        self.next_iteration = 0
        self.budget_mode: str | None = None

    @classmethod
    def replay(cls, config: StratloopConfig, records: Iterable[IterationRecord]) -> LoopState:
        """The state after ``records``; each record's champion flag must match the rule.

        Raises:
            RunError: a record is out of order or its champion flag contradicts
                the champion rule (the history does not belong to this configuration).
        """
        state = cls(config)
        for record in records:
            became = state.apply(record)
            if became != record.champion:
                raise RunError(
                    f"history iteration {record.iteration_num} says champion={record.champion} "
                    f"but the champion rule gives {became}; the history does not match the run's "
                    "configuration"
                )
        return state

    @property
    def feedback(self) -> tuple[Feedback, ...]:
        """The most recent results, oldest first."""
        return tuple(self._feedback)

    def usage(self) -> Usage:
        """The LLM usage the committed iterations spent."""
        return self.counters.llm_usage

    @property
    def snapshot(self) -> ChampionSnapshot | None:
        """The current champion."""
        return self.champion.snapshot

    @property
    def batch_archive(self) -> Archive | None:
        """The archive as the current batch started (what its parents are sampled from).

        Within a batch no record is committed before all are generated, so this
        is the live archive, except in a run resumed mid-batch.
        """
        if self.next_iteration % self._batch_size == 0:
            return self.archive
        return self._batch_archive

    def objective(self, record: IterationRecord) -> IterationRecord:
        """``record`` with its objective (raw and penalised figure) when a penalty is configured."""
        if not self.penalty.active or not record.evaluated or record.candidate is None:
            return record
        raw = self.champion.eligibility(record.selection or {}).score
        return replace(
            record, objective=self.penalty.objective(record.candidate.strategy.expression, raw)
        )

    def apply(self, record: IterationRecord) -> bool:
        """Apply one committed record; returns whether it became the champion."""
        if record.iteration_num != self.next_iteration:
            raise RunError(
                f"history iteration {record.iteration_num} follows iteration "
                f"{self.next_iteration - 1}; the history is inconsistent"
            )
        became = False
        if self.archive is not None and self.next_iteration % self._batch_size == 0:
            self._batch_archive = self.archive
        if record.evaluated and record.candidate is not None:
            penalty = penalty_of(record.objective)
            became = self.champion.offer(
                record.iteration_num,
                record.candidate,
                record.train or {},
                record.selection or {},
                penalty=penalty,
            )
            self._offer_archive(record, record.candidate, penalty)
        self.counters.add(record.with_champion(became))
        self.trials.apply(record)
        self._feedback.append(_feedback(record, self.champion.metric))
        if record.budget_mode:
            self.budget_mode = record.budget_mode
        self.next_iteration += 1
        return became


    def _offer_archive(self, record: IterationRecord, candidate: Candidate, penalty: float) -> None:
        """Offer an evaluated, eligible candidate to the archive (when there is one)."""
        if self.archive is None:
            return
        selection = record.selection or {}
        raw = self.champion.eligibility(selection).score
        if raw is None:
            return
        cell = self.archive.grid.cell(parsed(candidate.strategy.expression), selection)
        elite = Elite(cell, record.iteration_num, candidate, raw - penalty, raw)
        self.archive, _ = self.archive.offer(elite)


def _feedback(record: IterationRecord, metric: str) -> Feedback:
    score = (record.train or {}).get(metric)
    error = record.error
    why = None if error is None else f"{error.type}: {error.message}"
    if record.redundancy is not None:
        why = (
            f"redundant: its signal correlates {record.redundancy.correlation:.2f} with "
            f"iteration {record.redundancy.of_iteration}'s, so it was not a new trial"
        )
    return Feedback(
        iteration=record.iteration_num,
        expression="" if record.candidate is None else record.candidate.strategy.expression,
        method=record.method,
        score=float(score) if isinstance(score, int | float) else None,
        error=why,
    )
