"""The diversity archive (MAP-Elites): the best candidate in each cell of finance descriptors.

One population chasing one champion converges on one idea. The archive keeps,
for every combination of four descriptors, the best candidate found with it,
and an iteration's parent is sampled from it (``search.archive.parent_rate``
of the time, uniformly over the filled cells) instead of always being the
champion. Each island (:mod:`stratloop.loop.islands`) owns one archive, in its
:class:`ArchivePopulation`; with one island the run has one archive.

The descriptors come from what the evaluation already measured (no second
backtest) and from the expression itself:

- **factor family**, from the expression's leaves and operators. Its
  ingredients are *volume* (it reads ``volume``), *volatility* (it has a
  ``ts_std``, or reads ``high`` or ``low``: dispersion and range) and *price*
  (it reads ``close``, ``open`` or ``returns`` outside every ``ts_std``). Two or
  more ingredients (or none) make it ``mixed``; volume alone ``volume``;
  volatility alone ``volatility``; price alone ``reversal`` when its leading
  sign is negative (it buys what fell: ``-pct_change(close, 5)``) and
  ``momentum`` otherwise. The leading sign follows negations, negative
  factors and monotone wrappers (``rank``, ``delay``, ``ts_mean``, …) down to
  the first term.
- **turnover bucket**: the validation ``turnover`` (annual; the inverse of a
  holding period), edges ``turnover_first * turnover_ratio ** i``.
- **beta bucket**: the validation ``beta`` against the benchmark, edges
  ``beta_first + beta_step * i``; a run without a benchmark has no beta and
  one bucket (None).
- **complexity bucket**: the expression's nodes, edges ``nodes_first * nodes_ratio ** i``
  rounded up to whole nodes (each at least one above the one before).

A value below the first edge is bucket 0; one at or above edge ``i`` is bucket
``i + 1``. A cell keeps the candidate with the higher objective (the champion
rule's figure: the validation metric minus the complexity penalty); a tie keeps
the incumbent, so the archive, like the champion, is a pure function of the
committed history: a resumed run rebuilds it exactly by replaying the records.

The :class:`Archive` is a frozen value: :meth:`Archive.offer` returns a new one,
so a batch's snapshot (what :meth:`ArchivePopulation.parents` hands the batch),
an island's archive or a test's fixture is just a reference.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import numpy as np

from stratloop.config.models import ArchiveConfig, StratloopConfig
from stratloop.errors import RunError
from stratloop.factors import Binary, Call, Expr, Field, Neg, Number
from stratloop.generation.context import ChampionSnapshot
from stratloop.iteration import candidate_from_json, candidate_json
from stratloop.loop.champion import Offer, numeric
from stratloop.loop.islands import ChampionPopulation, ParentSource, Population
from stratloop.loop.islands import Elite as Migrant
from stratloop.loop.objective import parsed
from stratloop.spec import Candidate

__all__ = [
    "FAMILIES",
    "Archive",
    "ArchivePopulation",
    "Cell",
    "Elite",
    "Family",
    "Grid",
    "archive_population",
    "archives_json",
    "bucket",
    "factor_family",
]

Family: TypeAlias = Literal["momentum", "reversal", "volatility", "volume", "mixed"]

FAMILIES: tuple[Family, ...] = ("momentum", "reversal", "volatility", "volume", "mixed")
"""The factor families in the order the archive's cells and heatmap list them."""

_PRICE = frozenset({"close", "open", "returns"})
_RANGE = frozenset({"high", "low"})
_DISPERSION = frozenset({"ts_std"})
_MONOTONE = frozenset(
    {
        "rank", "zscore", "demean", "scale", "delay", "delta", "pct_change", "ts_mean",
        "ts_sum", "ts_rank", "ts_zscore", "ema", "decay_linear", "sign", "clip", "log", "sqrt",
    }
)  # fmt: skip
"""Operators increasing in their first argument: the leading sign passes through them."""

def bucket(value: float, edges: tuple[float, ...]) -> int:
    """The bucket of ``value``: how many edges are at or below it.

    >>> bucket(3.0, (4.0, 12.0)), bucket(4.0, (4.0, 12.0)), bucket(99.0, (4.0, 12.0))
    (0, 1, 2)
    """
    return bisect.bisect_right(edges, value)


def factor_family(expr: Expr) -> Family:
    """The factor family of ``expr`` (the rule is in the module docstring).

    >>> from stratloop.factors import parse
    >>> factor_family(parse("-pct_change(close, 5)")), factor_family(parse("rank(volume)"))
    ('reversal', 'volume')
    """
    found: set[str] = set()
    _ingredients(expr, found, inside_dispersion=False)
    if found == {"volume"}:
        return "volume"
    if found == {"volatility"}:
        return "volatility"
    if found == {"price"}:
        return "reversal" if _sign(expr) < 0 else "momentum"
    return "mixed"


def _ingredients(expr: Expr, found: set[str], *, inside_dispersion: bool) -> None:
    if isinstance(expr, Field):
        if expr.name == "volume":
            found.add("volume")
        elif expr.name in _RANGE:
            found.add("volatility")
        elif expr.name in _PRICE and not inside_dispersion:
            found.add("price")
        return
    dispersion = isinstance(expr, Call) and expr.name in _DISPERSION
    if dispersion:
        found.add("volatility")
    for child in expr.children:
        _ingredients(child, found, inside_dispersion=inside_dispersion or dispersion)


def _sign(expr: Expr) -> int:
    """The sign of ``expr``'s leading term: -1 when it falls as its first input rises."""
    if isinstance(expr, Number):
        return -1 if expr.value < 0 else 1
    if isinstance(expr, Neg):
        return -_sign(expr.operand)
    if isinstance(expr, Call):
        return _sign(expr.args[0]) if expr.name in _MONOTONE and expr.args else 1
    if isinstance(expr, Binary):
        return _binary_sign(expr)
    return 1


def _binary_sign(expr: Binary) -> int:
    """The leading sign through ``+ - * /``: a constant left operand hands it to the right."""
    left, right = expr.left, expr.right
    constant = isinstance(left, Number)
    if expr.op in {"+", "-"}:
        flip = -1 if expr.op == "-" else 1
        return flip * _sign(right) if constant else _sign(left)
    if expr.op == "*":
        return _sign(left) * _sign(right)
    if expr.op == "/":
        if constant:
            return -_sign(left) * _sign(right)
        return _sign(left) * (_sign(right) if isinstance(right, Number) else 1)
    return 1


@dataclass(frozen=True, slots=True, order=True)
class Cell:
    """One cell of the archive: the factor family and three bucket indices.

    ``beta`` is None when the run has no benchmark (so no beta was measured).
    """

    family: Family
    turnover: int
    beta: int | None
    nodes: int

    def sort_key(self) -> tuple[int, int, int, int]:
        """Family order, then buckets; a missing beta sorts first."""
        beta = -1 if self.beta is None else self.beta
        return (FAMILIES.index(self.family), self.turnover, beta, self.nodes)

    def as_json(self) -> dict[str, Any]:
        """The cell as a JSON object, key for field."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cell:
        """The cell :meth:`as_json` wrote."""
        family = data["family"]
        if family not in FAMILIES:
            raise ValueError(f"unknown factor family {family!r}; known: {', '.join(FAMILIES)}")
        beta = data["beta"]
        return cls(family, int(data["turnover"]), None if beta is None else int(beta),
                   int(data["nodes"]))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Grid:
    """The bucket edges of the measured descriptors (``search.archive``)."""

    turnover_edges: tuple[float, ...]
    beta_edges: tuple[float, ...]
    nodes_edges: tuple[float, ...]

    @classmethod
    def from_config(cls, config: ArchiveConfig) -> Grid:
        """The grid the configuration describes (edges rounded to 6 significant digits)."""
        c = config
        turnover = range(c.turnover_buckets - 1)
        return cls(
            tuple(_round(c.turnover_first * c.turnover_ratio**i) for i in turnover),
            tuple(_round(c.beta_first + c.beta_step * i) for i in range(c.beta_buckets - 1)),
            _whole(c.nodes_first * c.nodes_ratio**i for i in range(c.nodes_buckets - 1)),
        )

    @property
    def capacity(self) -> int:
        """The number of cells (a beta-less run uses one beta bucket of them)."""
        return (
            len(FAMILIES)
            * (len(self.turnover_edges) + 1)
            * (len(self.beta_edges) + 1)
            * (len(self.nodes_edges) + 1)
        )

    def cell(self, expr: Expr, validation: Mapping[str, Any]) -> Cell:
        """The cell of an evaluated candidate from its expression and validation metrics.

        Raises:
            RunError: the validation metrics lack a finite ``turnover`` (every
                evaluation measures it, so the record is not one of this run's).
        """
        turnover = _finite(validation.get("turnover"))
        if turnover is None:
            raise RunError(
                f"validation metrics {dict(validation)} have no finite turnover; the archive "
                "needs the turnover every evaluation records (is the history edited?)"
            )
        beta = _finite(validation.get("beta"))
        return Cell(
            family=factor_family(expr),
            turnover=bucket(turnover, self.turnover_edges),
            beta=None if beta is None else bucket(beta, self.beta_edges),
            nodes=bucket(float(expr.size), self.nodes_edges),
        )

    def as_json(self) -> dict[str, Any]:
        """The edges as a JSON object."""
        return {
            "turnover_edges": list(self.turnover_edges),
            "beta_edges": list(self.beta_edges),
            "nodes_edges": list(self.nodes_edges),
        }


def _whole(edges: Iterable[float]) -> tuple[float, ...]:
    """Size edges rounded up to whole nodes, each at least one above the one before."""
    out: list[float] = []
    for edge in edges:
        out.append(float(max(math.ceil(edge), int(out[-1]) + 1 if out else 0)))
    return tuple(out)


def _round(value: float) -> float:
    """An edge as the archive stores it: 6 significant digits, so 0.8 + 0.2 is 1.0."""
    return float(f"{value:.6g}")


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if np.isfinite(number) else None


@dataclass(frozen=True, slots=True)
class Elite:
    """The best candidate of one cell.

    Args:
        cell: where it lives.
        iteration: the iteration that evaluated it.
        candidate: the candidate (what a sampled parent is mutated from).
        score: the champion rule's figure (validation metric minus the complexity penalty).
        raw: the validation metric itself.
        train: its numeric train-block metrics (what the generators are shown of a parent).
    """

    cell: Cell
    iteration: int
    candidate: Candidate
    score: float
    raw: float
    train: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def snapshot(self) -> ChampionSnapshot:
        """The elite as a parent for generation (the shape a champion is handed over in)."""
        return ChampionSnapshot(self.candidate, self.train, self.iteration)

    def as_json(self) -> dict[str, Any]:
        """The elite as a JSON object (``archive.json``'s cells)."""
        return {
            **self.cell.as_json(),
            "iteration": self.iteration,
            "score": self.score,
            "raw": self.raw,
            "expression": self.candidate.strategy.expression,
            "candidate": candidate_json(self.candidate),
            "train": dict(self.train),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Elite:
        """The elite :meth:`as_json` wrote."""
        return cls(
            cell=Cell.from_json(data),
            iteration=int(data["iteration"]),
            candidate=candidate_from_json(data["candidate"]),
            score=float(data["score"]),
            raw=float(data["raw"]),
            train=MappingProxyType({k: float(v) for k, v in data["train"].items()}),
        )


@dataclass(frozen=True, slots=True)
class Archive:
    """The elites by cell; a frozen value (every change returns a new archive).

    Args:
        grid: the descriptor edges.
        elites: the best candidate of each filled cell.
        offered: how many candidates were offered (eligible evaluated ones).
    """

    grid: Grid
    elites: Mapping[Cell, Elite] = field(default_factory=lambda: MappingProxyType({}))
    offered: int = 0

    @classmethod
    def empty(cls, config: ArchiveConfig) -> Archive:
        """An archive with no elite, on the configured grid."""
        return cls(Grid.from_config(config))

    @property
    def filled(self) -> int:
        """The number of filled cells."""
        return len(self.elites)

    def cells(self) -> tuple[Cell, ...]:
        """The filled cells in a fixed order (family, then buckets): what sampling indexes."""
        return tuple(sorted(self.elites, key=Cell.sort_key))

    def offer(self, elite: Elite) -> tuple[Archive, bool]:
        """This archive with ``elite`` offered: kept when its cell is empty or it scores higher.

        Returns:
            The archive after the offer, and whether ``elite`` was kept.
        """
        incumbent = self.elites.get(elite.cell)
        kept = incumbent is None or elite.score > incumbent.score
        elites = self.elites
        if kept:
            elites = MappingProxyType({**self.elites, elite.cell: elite})
        return Archive(self.grid, elites, self.offered + 1), kept

    def sample(self, rng: np.random.Generator, rate: float) -> Elite | None:
        """An iteration's parent: with probability ``rate`` a uniformly drawn elite, else None.

        None means "the champion". The draws are one uniform, then (when an
        elite is chosen) one integer, both from ``rng`` (the iteration's
        :func:`~stratloop.loop.islands.parent_rng`).
        """
        if rng.random() >= rate or not self.elites:
            return None
        cells = self.cells()
        return self.elites[cells[int(rng.integers(len(cells)))]]

    def fill_by_family(self) -> dict[str, int]:
        """How many cells of each family are filled, in :data:`FAMILIES` order."""
        counts: dict[str, int] = dict.fromkeys(FAMILIES, 0)
        for cell in self.elites:
            counts[cell.family] += 1
        return counts

    def as_json(self, *, iterations: int, island: int | None = None) -> dict[str, Any]:
        """One archive of ``archive.json``: the grid, the fill and every elite.

        Args:
            iterations: the iterations committed when it was written.
            island: the island that owns it (None with one island).
        """
        return {
            "island": island,
            "iterations": iterations,
            "grid": self.grid.as_json(),
            "families": list(FAMILIES),
            "capacity": self.grid.capacity,
            "filled": self.filled,
            "offered": self.offered,
            "fill_by_family": self.fill_by_family(),
            "cells": [self.elites[cell].as_json() for cell in self.cells()],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Archive:
        """The archive :meth:`as_json` wrote.

        Raises:
            RunError: the payload is not an archive (the message says what is wrong).
        """
        try:
            grid = data["grid"]
            elites = [Elite.from_json(item) for item in data["cells"]]
            return cls(
                Grid(
                    tuple(float(e) for e in grid["turnover_edges"]),
                    tuple(float(e) for e in grid["beta_edges"]),
                    tuple(float(e) for e in grid["nodes_edges"]),
                ),
                MappingProxyType({elite.cell: elite for elite in elites}),
                int(data["offered"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RunError(f"archive.json is not an archive: {exc!r}") from exc



@dataclass(frozen=True, slots=True)
class _ArchiveParents:
    """A batch's parents: an elite of the archive as it stood, at ``rate``, else the champion."""

    champion: ParentSource
    archive: Archive
    rate: float

    def parent(self, rng: np.random.Generator) -> ChampionSnapshot | None:
        elite = self.archive.sample(rng, self.rate)
        return self.champion.parent(rng) if elite is None else elite.snapshot()


class ArchivePopulation:
    """An island's population with a diversity archive: its champion, plus the best per cell.

    Its champion follows the run's champion rule (a :class:`ChampionPopulation`,
    which migration reads and writes); every eligible candidate it is offered,
    migrants included, is also offered to its archive. A parent is an archive
    elite with probability ``search.archive.parent_rate``, else the champion.

    Args:
        config: the run's configuration.
    """

    def __init__(self, config: StratloopConfig) -> None:
        self._champion = ChampionPopulation(config.loop.champion_metric, config.loop.min_trades)
        self._rate = config.search.archive.parent_rate
        self.archive = Archive.empty(config.search.archive)

    def offer(self, offer: Offer) -> bool:
        """Offer the island's own candidate or a migrant to the champion rule and the archive."""
        raw = self._champion.eligibility(offer.selection).score
        if raw is not None:
            expr = parsed(offer.candidate.strategy.expression)
            cell = self.archive.grid.cell(expr, offer.selection)
            elite = Elite(
                cell,
                offer.iteration,
                offer.candidate,
                raw - offer.penalty,
                raw,
                MappingProxyType(numeric(offer.train)),
            )
            self.archive, _ = self.archive.offer(elite)
        return self._champion.offer(offer)

    def best(self) -> Migrant | None:
        """The island's champion, the one it sends to the next island."""
        return self._champion.best()

    def parents(self) -> ParentSource:
        """The champion and the archive as they stand, frozen for the next batch."""
        return _ArchiveParents(self._champion.parents(), self.archive, self._rate)

    def as_dict(self) -> dict[str, Any] | None:
        """The champion as ``champion.json`` shows one."""
        return self._champion.as_dict()


def archive_population(config: StratloopConfig, island: int) -> Population:  # noqa: ARG001 - same for every island
    """Island ``island``'s population when ``search.archive`` is enabled: its own archive."""
    return ArchivePopulation(config)



def archives_json(archives: Iterable[Archive], *, iterations: int) -> dict[str, Any]:
    """``archive.json``: every island's archive (one entry per island, island order)."""
    listed = tuple(archives)
    single = len(listed) == 1
    return {
        "archives": [
            archive.as_json(iterations=iterations, island=None if single else k)
            for k, archive in enumerate(listed)
        ]
    }
