"""Islands: ``search.islands`` populations searched side by side, with migration along a ring.

One population climbs one hill: every factor-graph child is a mutation of the
one champion, so a run converges early and then mostly repeats itself. With
``search.islands: K`` the run keeps K populations instead. Iteration ``i``
belongs to island ``i mod K``; its generation sees only that island's parent
(its champion, for now) and that island's recent results, and draws from that
island's own seeded stream:

- island 0 uses the run seed itself, so ``islands: 1`` is exactly the search
  without islands, line for line;
- island ``k > 0`` uses :func:`island_seed`: the first 64-bit word of
  ``numpy.random.SeedSequence([run seed, k])``, halved to fit ``loop.seed``'s
  63 bits;
- iteration ``i`` then draws from ``(island seed, i)`` as any iteration does
  (:func:`~stratloop.generation.context.iteration_rng`), and a population that
  samples its parent draws from ``(island seed, i, 1)`` (:func:`parent_rng`),
  so choosing a parent never shifts the generator's draws.

Every ``search.migration_interval`` iterations (after iteration ``i`` with
``(i + 1) mod M == 0``) every island's champion, as it stood before any of
them moved, is offered to island ``(k + 1) mod K``, which adopts it only when
it scores strictly higher on the validation metric (the champion rule). The
migrations are recorded on that iteration's history line and counted. The
run's champion is still the best over all islands, chosen by the one rule of
:mod:`stratloop.loop.champion`.

Like the rest of :class:`~stratloop.loop.state.LoopState`, the islands are a
pure function of the committed history, so a resumed run continues exactly.
``islands.json`` in the run directory holds their state after the last
committed batch (replaced atomically, rewritten every batch); a resume checks
it against the state rebuilt from the history.

An island owns a :class:`Population`: what its parents come from. By default
that is its champion (:class:`ChampionPopulation`); with ``search.archive`` it
is an :class:`~stratloop.loop.archive.ArchivePopulation`, whose parents are
sampled from the island's own diversity archive.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from stratloop.config.models import StratloopConfig
from stratloop.errors import RunError
from stratloop.generation.context import ChampionSnapshot, Feedback
from stratloop.iteration import IterationRecord, Migration
from stratloop.loop.champion import ChampionTracker, Offer
from stratloop.loop.rundir import atomic_write_json

__all__ = [
    "FEEDBACK_SIZE",
    "ChampionPopulation",
    "Elite",
    "IslandView",
    "Islands",
    "IslandsView",
    "ParentSource",
    "Population",
    "champion_population",
    "island_lines",
    "island_seed",
    "parent_rng",
]

FEEDBACK_SIZE = 8
"""How many of its island's recent results the generators see as feedback."""

_PARENT_STREAM = 1
"""The third entropy word of :func:`parent_rng`, apart from the iteration's own stream."""

_SEED_BITS = 63
"""``loop.seed``'s range: an island seed fits where a run seed does."""


def island_seed(seed: int, island: int) -> int:
    """Island ``island``'s seed: the run seed for island 0, else one derived from both.

    >>> island_seed(42, 0)
    42
    >>> island_seed(42, 1) == island_seed(42, 1) != island_seed(42, 2)
    True
    """
    if island == 0:
        return seed
    word = int(np.random.SeedSequence([seed, island]).generate_state(1, np.uint64)[0])
    return word >> (64 - _SEED_BITS)


def parent_rng(seed: int, iteration: int) -> np.random.Generator:
    """The stream a population draws from to choose iteration ``iteration``'s parent."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([seed, iteration, _PARENT_STREAM]))
    )


@dataclass(frozen=True, slots=True)
class Elite:
    """A population's best candidate, as it was offered, and its score: what migration moves."""

    offer: Offer
    score: float
    """The champion rule's figure: the validation metric less the offer's complexity penalty."""


class ParentSource(Protocol):
    """A population frozen as a batch began: the parents its iterations are generated from."""

    def parent(self, rng: np.random.Generator) -> ChampionSnapshot | None:
        """The parent of one iteration; ``rng`` is that iteration's :func:`parent_rng`."""
        ...


class Population(Protocol):
    """What one island searches from, built by applying its committed results in order."""

    def offer(self, offer: Offer) -> bool:
        """Take an evaluated candidate of the island or a migrant; True when it became champion."""
        ...

    def best(self) -> Elite | None:
        """The island's champion, the one it sends to the next island."""
        ...

    def parents(self) -> ParentSource:
        """The population as it stands now, frozen for the next batch's iterations."""
        ...

    def as_dict(self) -> dict[str, Any] | None:
        """The champion as ``champion.json`` shows one, or None."""
        ...


@dataclass(frozen=True, slots=True)
class _Fixed:
    """A parent source with one parent: the champion when the batch began."""

    champion: ChampionSnapshot | None

    def parent(self, rng: np.random.Generator) -> ChampionSnapshot | None:  # noqa: ARG002 - the protocol's
        return self.champion


class ChampionPopulation(ChampionTracker):
    """An island whose parent is its champion, kept by the run's champion rule.

    :meth:`offer` and :meth:`as_dict` are the champion rule's own; a migrant is
    offered to the same rule (ties keep the incumbent).

    Args:
        metric: ``loop.champion_metric``.
        min_trades: ``loop.min_trades``.
    """

    def best(self) -> Elite | None:
        """The champion with its figures, or None before the first eligible result."""
        snap = self.snapshot
        if snap is None or self.score is None:
            return None
        offer = Offer(snap.iteration, snap.candidate, self.train, self.selection, self.penalty)
        return Elite(offer, self.score)

    def parents(self) -> ParentSource:
        """The champion as it stands, the parent of every iteration of the next batch."""
        return _Fixed(self.snapshot)


PopulationFactory = Callable[[StratloopConfig, int], Population]
"""Builds island ``k``'s population from the run's configuration."""


def champion_population(config: StratloopConfig, island: int) -> Population:  # noqa: ARG001 - same for every island
    """The default population: the island's champion."""
    return ChampionPopulation(config.loop.champion_metric, config.loop.min_trades)


@dataclass(frozen=True, slots=True)
class IslandView:
    """What one iteration's generation reads from its island, as its batch began.

    Args:
        island: the island's index, or None when the run has one island.
        seed: the island's seed (:func:`island_seed`), the iteration's ``ctx.seed``.
        parents: the island's population, frozen.
        feedback: the island's recent results, oldest first.
    """

    island: int | None
    seed: int
    parents: ParentSource
    feedback: tuple[Feedback, ...]

    def parent(self, iteration: int) -> ChampionSnapshot | None:
        """Iteration ``iteration``'s parent, drawn from its own :func:`parent_rng`."""
        return self.parents.parent(parent_rng(self.seed, iteration))


@dataclass(frozen=True, slots=True)
class IslandsView:
    """Every island as a batch began; iteration ``i`` reads island ``i mod K``."""

    islands: tuple[IslandView, ...]

    def at(self, iteration: int) -> IslandView:
        """The view of iteration ``iteration``'s island."""
        return self.islands[iteration % len(self.islands)]


class _Island:
    """One island's mutable state."""

    def __init__(self, index: int, seed: int, population: Population) -> None:
        self.index = index
        self.seed = seed
        self.population = population
        self.feedback: deque[Feedback] = deque(maxlen=FEEDBACK_SIZE)
        self.iterations = 0
        self.evaluated = 0
        self.received = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "island": self.index,
            "seed": self.seed,
            "iterations": self.iterations,
            "evaluated": self.evaluated,
            "received": self.received,
            "champion": self.population.as_dict(),
            "feedback": [asdict(item) for item in self.feedback],
        }


class Islands:
    """The run's islands after the records applied so far.

    Args:
        config: the run's configuration (``search.islands``,
            ``search.migration_interval``, the seed and the champion rule).
        population: builds each island's population (default: its champion).
    """

    def __init__(
        self, config: StratloopConfig, population: PopulationFactory = champion_population
    ) -> None:
        self.count = config.search.islands
        self.interval = config.search.migration_interval
        self._metric = config.loop.champion_metric
        self._islands = tuple(
            _Island(k, island_seed(config.loop.seed, k), population(config, k))
            for k in range(self.count)
        )
        self.migrations = 0
        self.adopted = 0

    @property
    def populations(self) -> tuple[Population, ...]:
        """Each island's population, in island order."""
        return tuple(island.population for island in self._islands)

    def island_of(self, iteration: int) -> int | None:
        """The island iteration ``iteration`` belongs to; None when the run has one island."""
        return None if self.count == 1 else iteration % self.count

    def view(self) -> IslandsView:
        """Every island as it stands, for the next batch's generation."""
        return IslandsView(
            tuple(
                IslandView(
                    None if self.count == 1 else island.index,
                    island.seed,
                    island.population.parents(),
                    tuple(island.feedback),
                )
                for island in self._islands
            )
        )

    def apply(self, record: IterationRecord) -> tuple[Migration, ...]:
        """Apply one committed record to its island; the migrations due after it, if any."""
        island = self._islands[record.iteration_num % self.count]
        island.iterations += 1
        offer = Offer.of(record)
        if offer is not None:
            island.evaluated += 1
            island.population.offer(offer)
        island.feedback.append(_feedback(record, self._metric))
        if self.count == 1 or (record.iteration_num + 1) % self.interval:
            return ()
        return self._migrate()

    def _migrate(self) -> tuple[Migration, ...]:
        """Each island's champion, as it stood before any moved, offered to the next island."""
        elites = [island.population.best() for island in self._islands]
        moves: list[Migration] = []
        for source, elite in enumerate(elites):
            if elite is None:
                continue
            target = self._islands[(source + 1) % self.count]
            adopted = target.population.offer(elite.offer)
            target.received += adopted
            moves.append(
                Migration(source, target.index, elite.offer.iteration, elite.score, adopted)
            )
        self.migrations += len(moves)
        self.adopted += sum(move.adopted for move in moves)
        return tuple(moves)

    def metrics(self) -> dict[str, int]:
        """The islands' counters for ``metrics.json``; none with one island."""
        if self.count == 1:
            return {}
        return {
            "islands": self.count,
            "migrations": self.migrations,
            "migrations_adopted": self.adopted,
        }

    def as_json(self, next_iteration: int) -> dict[str, Any]:
        """``islands.json``: every island's state after ``next_iteration`` iterations."""
        return {
            "islands": self.count,
            "migration_interval": self.interval,
            "next_iteration": next_iteration,
            "migrations": self.migrations,
            "migrations_adopted": self.adopted,
            "populations": [island.as_json() for island in self._islands],
        }

    def write(self, path: Path, next_iteration: int) -> None:
        """Replace ``islands.json`` atomically (not with one island, which has no file).

        Not fsynced: like ``metrics.json`` it is rebuilt from the history on resume.
        """
        if self.count > 1:
            atomic_write_json(path, self.as_json(next_iteration), durable=False)

    def check(self, path: Path, next_iteration: int) -> str | None:
        """Compare ``islands.json`` with the state the history rebuilt; a note if it is stale.

        Returns:
            None when the file agrees (or the run has one island), else what
            was found; the file is rewritten after the next batch either way.

        Raises:
            RunError: the file describes the same iteration with another state
                (it belongs to another history or configuration).
        """
        if self.count == 1 or not path.is_file():
            return None
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            at = stored["next_iteration"]
        except (OSError, ValueError, TypeError, KeyError) as exc:
            return f"{path.name} could not be read ({exc}); rebuilt from the history"
        if at != next_iteration:
            return (
                f"{path.name} was written after iteration {at}, the history has "
                f"{next_iteration}; rebuilt from the history"
            )
        rebuilt = json.loads(json.dumps(self.as_json(next_iteration)))
        if stored != rebuilt:
            raise RunError(
                f"{path} does not match the islands the history gives at iteration "
                f"{next_iteration}; the file was edited or belongs to another run. Move it "
                "aside to resume: it is rebuilt from the history"
            )
        return None


def island_lines(run_path: Path) -> list[str]:
    """Lines for ``stratloop show``: each island's champion and the migrations (none: no file)."""
    path = run_path / "islands.json"
    if not path.is_file():
        return []
    state = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        f"islands: {state['islands']}, migration every {state['migration_interval']} "
        f"iterations: {state['migrations']} migrations, {state['migrations_adopted']} adopted "
        f"(after {state['next_iteration']} iterations)"
    ]
    for island in state["populations"]:
        champion = island["champion"]
        best = (
            "no champion yet"
            if champion is None
            else f"champion iteration {champion['iteration']}, {champion['metric']} "
            f"{champion['score']:.4g}: {champion['spec']['expression']}"
        )
        lines.append(
            f"  island {island['island']}: {island['iterations']} iterations, "
            f"{island['evaluated']} evaluated, {island['received']} migrant(s) adopted; {best}"
        )
    return lines


def _feedback(record: IterationRecord, metric: str) -> Feedback:
    score = (record.train or {}).get(metric)
    error = record.error
    why = None if error is None else f"{error.type}: {error.message}"
    if record.redundancy is not None:
        why = (
            f"redundant: its signal correlates {record.redundancy.correlation:.2f} with "
            f"{record.redundancy.describe()}, so it was not a new trial"
        )
    return Feedback(
        iteration=record.iteration_num,
        expression="" if record.candidate is None else record.candidate.strategy.expression,
        method=record.method,
        score=float(score) if isinstance(score, int | float) else None,
        error=why,
    )
