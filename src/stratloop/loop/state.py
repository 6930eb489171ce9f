"""The loop's state as a pure function of the committed history.

The live loop and a resume both build the state the same way: by applying
iteration records, in order, exactly as they read back from ``history.jsonl``.
That is what makes a resumed run identical to an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from stratloop.config.models import StratloopConfig
from stratloop.errors import RunError
from stratloop.iteration import IterationRecord, Migration
from stratloop.llm.budget import Usage
from stratloop.loop.archive import Archive, ArchivePopulation, archive_population
from stratloop.loop.champion import ChampionTracker, Offer
from stratloop.loop.counters import LoopCounters
from stratloop.loop.islands import Islands, champion_population
from stratloop.loop.objective import ComplexityPenalty
from stratloop.loop.trials import TrialLedger

__all__ = ["LoopState"]


class LoopState:
    """Champion, islands (their parents, archives and feedback), counters and trials.

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
        enabled = config.search.archive.enabled
        self.islands = Islands(
            config, archive_population if enabled else champion_population
        )
        self.migrations: tuple[Migration, ...] = ()
        """The migrations that followed the last record applied."""
        self.next_iteration = 0
        self.budget_mode: str | None = None

    @classmethod
    def replay(cls, config: StratloopConfig, records: Iterable[IterationRecord]) -> LoopState:
        """The state after ``records``; each record's champion flag must match the rule.

        Raises:
            RunError: a record is out of order, or its champion flag, island or
                migrations contradict the rules (the history does not belong to
                this configuration).
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
            island = state.islands.island_of(record.iteration_num)
            if (record.island, record.migrations) != (island, state.migrations):
                raise RunError(
                    f"history iteration {record.iteration_num} says island {record.island} with "
                    f"{len(record.migrations)} migration(s) but search.islands="
                    f"{state.islands.count} gives island {island} with "
                    f"{len(state.migrations)}; the history does not match the run's configuration"
                )
        return state

    def usage(self) -> Usage:
        """The LLM usage the committed iterations spent."""
        return self.counters.llm_usage

    @property
    def archives(self) -> tuple[Archive, ...]:
        """Each island's diversity archive, in island order; none without ``search.archive``."""
        return tuple(
            population.archive
            for population in self.islands.populations
            if isinstance(population, ArchivePopulation)
        )

    def objective(self, record: IterationRecord) -> IterationRecord:
        """``record`` with its objective (raw and penalised figure) when a penalty is configured."""
        if not self.penalty.active or not record.evaluated or record.candidate is None:
            return record
        raw = self.champion.eligibility(record.selection or {}).score
        return replace(
            record, objective=self.penalty.objective(record.candidate.strategy.expression, raw)
        )

    def commit(self, record: IterationRecord) -> IterationRecord:
        """Apply a new record; it comes back with the champion verdict, island and migrations."""
        became = self.apply(record)
        island = self.islands.island_of(record.iteration_num)
        return record.with_champion(became).with_islands(island, self.migrations)

    def apply(self, record: IterationRecord) -> bool:
        """Apply one committed record; returns whether it became the champion."""
        if record.iteration_num != self.next_iteration:
            raise RunError(
                f"history iteration {record.iteration_num} follows iteration "
                f"{self.next_iteration - 1}; the history is inconsistent"
            )
        offer = Offer.of(record)
        became = offer is not None and self.champion.offer(offer)
        self.counters.add(record.with_champion(became))
        self.trials.apply(record)
        self.migrations = self.islands.apply(record)
        if record.budget_mode:
            self.budget_mode = record.budget_mode
        self.next_iteration += 1
        return became
