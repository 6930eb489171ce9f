"""The champion a shadow session hands both sides, chosen explicitly.

With a champion, a factor-graph iteration mutates it (as the real loop does
after its first batch) instead of sampling a fresh factor, so the shadow
commands compare the mutation path too. The choice is never implicit:

- ``none``: no champion; factor-graph iterations sample fresh factors.
- ``reference``: the factor library's reference strategy, the first template
  that fits the data at its default parameters with the generator's default
  portfolio rule. It has no metrics (the LLM prompt then says "no metrics").
- ``latest-run``: the champion of the latest run under ``loop.runs_dir``, read
  from its ``champion.json`` as ``stratloop show`` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, get_args

from stratloop.errors import GenerationError, RunError
from stratloop.factors.generator import FactorGraphGenerator
from stratloop.generation.context import ChampionSnapshot
from stratloop.generation.strategies import CandidateSource
from stratloop.iteration import candidate_from_json
from stratloop.loop.rundir import RunDir, list_run_ids
from stratloop.spec import Candidate, Lineage, Strategy

__all__ = [
    "CHAMPION_SOURCES",
    "ChampionSource",
    "ShadowChampion",
    "choose_champion",
    "latest_run_champion",
    "reference_champion",
]

ChampionSource: TypeAlias = Literal["none", "reference", "latest-run"]
"""Where a shadow session's champion comes from."""

CHAMPION_SOURCES: tuple[ChampionSource, ...] = get_args(ChampionSource)
"""Every champion source, in the order the CLI lists them."""


@dataclass(frozen=True, slots=True)
class ShadowChampion:
    """The champion a session ran with, and where it came from.

    Args:
        source: which choice produced it.
        snapshot: the champion both sides mutate; None for ``none``.
        run_id: the run it was read from (``latest-run`` only).
    """

    source: ChampionSource
    snapshot: ChampionSnapshot | None
    run_id: str | None = None

    def describe(self) -> str:
        """One line for the command's output: the source, and what it mutates."""
        if self.snapshot is None:
            return f"{self.source} (factor-graph iterations sample fresh factors)"
        candidate = self.snapshot.candidate
        run = "" if self.run_id is None else f" of run {self.run_id}"
        return (
            f"{self.source}{run}: {candidate.candidate_id} `{candidate.strategy.expression}` "
            "(factor-graph iterations mutate it)"
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON view the shadow commands record: source, strategy id, expression, run."""
        candidate = None if self.snapshot is None else self.snapshot.candidate
        return {
            "source": self.source,
            "strategy_id": None if candidate is None else candidate.candidate_id,
            "expression": None if candidate is None else candidate.strategy.expression,
            "run_id": self.run_id,
        }


def reference_champion(factor_graph: CandidateSource) -> ChampionSnapshot:
    """The library's reference strategy as a champion without metrics.

    Raises:
        GenerationError: ``factor_graph`` is not a factor-graph generator (it
            has no library to take the reference from), or no template fits.
    """
    if not isinstance(factor_graph, FactorGraphGenerator):
        raise GenerationError(
            f"the reference champion comes from a FactorGraphGenerator's library, but the "
            f"factor-graph source is a {type(factor_graph).__name__}; use --champion none "
            "or latest-run"
        )
    usable = factor_graph.library.usable(factor_graph.fields, factor_graph.limits)
    if not usable:
        raise GenerationError(
            f"no factor template fits the data's fields {sorted(factor_graph.fields)} and "
            f"{factor_graph.limits}, so there is no reference champion; use --champion none "
            "or latest-run"
        )
    template = usable[0]
    expr = template.instantiate(fields=factor_graph.fields, limits=factor_graph.limits)
    strategy = Strategy(expression=expr.text, portfolio=factor_graph.default_portfolio)
    lineage = Lineage(
        operator="sample",
        params={"factor": template.name, "factor_params": template.defaults()},
    )
    return ChampionSnapshot(
        candidate=Candidate(strategy, "factor_graph", lineage), metrics=MappingProxyType({})
    )


def latest_run_champion(runs_dir: Path) -> tuple[str, ChampionSnapshot]:
    """The latest run's id and its champion, read from its ``champion.json``.

    Raises:
        RunError: there is no run under ``runs_dir``, the latest one has no
            champion yet, or its ``champion.json`` is malformed.
    """
    runs = list_run_ids(runs_dir)
    if not runs:
        raise RunError(
            f"--champion latest-run needs a run, but {runs_dir} holds none; start one with "
            "`stratloop run` or use --champion reference"
        )
    rundir = RunDir.open(runs_dir, runs[-1])
    if not rundir.champion.is_file():
        raise RunError(
            f"the latest run {rundir.run_id} in {runs_dir} has no champion yet (no "
            f"{rundir.champion}); let it commit a batch or use --champion reference"
        )
    payload = rundir.read_json(rundir.champion)
    try:
        snapshot = ChampionSnapshot(
            candidate=candidate_from_json(payload),
            metrics=MappingProxyType(
                {
                    key: value
                    for key, value in payload.get("train", {}).items()
                    if isinstance(value, int | float) and not isinstance(value, bool)
                }
            ),
            iteration=int(payload.get("iteration", 0)),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise RunError(
            f"run {rundir.run_id}: {rundir.champion} is not a champion record ({exc}); "
            "use --champion reference"
        ) from exc
    return rundir.run_id, snapshot


def choose_champion(source: str, factor_graph: CandidateSource, runs_dir: Path) -> ShadowChampion:
    """The champion ``source`` names.

    Args:
        source: one of :data:`CHAMPION_SOURCES`.
        factor_graph: the factor-graph generator (its library gives ``reference``).
        runs_dir: where ``latest-run`` looks (``loop.runs_dir``).

    Raises:
        ValueError: an unknown source.
        GenerationError: see :func:`reference_champion`.
        RunError: see :func:`latest_run_champion`.
    """
    if source == "none":
        return ShadowChampion("none", None)
    if source == "reference":
        return ShadowChampion("reference", reference_champion(factor_graph))
    if source == "latest-run":
        run_id, snapshot = latest_run_champion(runs_dir)
        return ShadowChampion("latest-run", snapshot, run_id)
    raise ValueError(
        f"champion source must be one of {', '.join(CHAMPION_SOURCES)} but got {source!r}"
    )
