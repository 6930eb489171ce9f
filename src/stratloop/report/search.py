"""The search view: how one run's search went, folded from its iteration records.

One run at a time (runs are never joined): the champion's train figure and
its validation figure (what selection saw) against the iteration, the
acceptance rate (share of iterations evaluated), the duplicate rate
(candidates identical to an earlier one), the LLM and factor-graph share and
success rate over time, the LLM cost so far, the most recent decisions, and
the champion's lineage tree (each node opens to its spec and metrics).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np

from stratloop._share import Share
from stratloop.iteration import IterationRecord
from stratloop.report import _charts
from stratloop.report.templating import template

__all__ = [
    "TRIAL_FIGURES",
    "LineageNode",
    "SearchFold",
    "SearchView",
    "bucket_labels",
    "render_archive",
    "render_search",
    "search_view",
    "trial_validation",
]

_RECENT = 12
_BINS = 20
_LINEAGE_NODES = 200
"""A lineage tree is cut here: deep factor-graph chains would make the page unreadable."""

TRIAL_FIGURES = ("information_ratio", "sharpe")
"""The validation figures kept per distinct candidate, in this order, for the deflated Sharpe."""


@dataclass(frozen=True, slots=True)
class LineageNode:
    """One candidate of the champion's ancestry and the parents it was made from."""

    candidate_id: str
    iteration: int | None
    method: str
    operator: str
    expression: str
    spec: Mapping[str, Any]
    train: Mapping[str, Any]
    validation: Mapping[str, Any]
    parents: tuple[LineageNode, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchView:
    """The figures of one run's search (definitions in the module docstring).

    ``trials`` counts the distinct candidates evaluated: the number of tries a
    deflated Sharpe of the champion must correct for; ``trial_validation`` holds
    each one's validation ``TRIAL_FIGURES`` (NaN when absent), in first-tried order.
    """

    run_id: str
    metric: str
    iterations: int
    evaluated: int
    candidates: int
    duplicates: int
    trials: int
    champion_updates: int
    llm_iterations: int
    llm_successes: int
    factor_graph_iterations: int
    factor_graph_successes: int
    cost: float
    tokens: int
    best_train: tuple[float, ...]
    champion_validation: tuple[float, ...]
    bins: tuple[Mapping[str, float], ...]
    recent: tuple[Mapping[str, Any], ...]
    lineage: LineageNode | None
    trial_validation: tuple[tuple[float, float], ...] = ()

    acceptance_rate = Share(
        "evaluated", "iterations", "Share of iterations that were evaluated; None before the first."
    )
    duplicate_rate = Share(
        "duplicates",
        "candidates",
        "Share of candidates identical to an earlier candidate of the run.",
    )

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe figures (NaN as null) for ``/api``."""
        return {
            "run_id": self.run_id,
            "metric": self.metric,
            "iterations": self.iterations,
            "evaluated": self.evaluated,
            "candidates": self.candidates,
            "trials": self.trials,
            "acceptance_rate": self.acceptance_rate,
            "duplicates": self.duplicates,
            "duplicate_rate": self.duplicate_rate,
            "champion_updates": self.champion_updates,
            "llm_iterations": self.llm_iterations,
            "llm_successes": self.llm_successes,
            "factor_graph_iterations": self.factor_graph_iterations,
            "factor_graph_successes": self.factor_graph_successes,
            "cost": self.cost,
            "tokens": self.tokens,
            "champion_changes": [
                {"iteration": i, "best_train": _finite(best), "champion_validation": _finite(value)}
                for i, (best, value) in enumerate(
                    zip(self.best_train, self.champion_validation, strict=True)
                )
                if math.isfinite(best) and (i == 0 or best != self.best_train[i - 1])
            ],
            "recent": list(self.recent),
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(slots=True)
class _Made:
    """What the fold keeps of a candidate: little, unless it was a champion."""

    iteration: int
    method: str
    operator: str
    parents: tuple[str, ...]
    expression: str
    details: tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]] | None = None
    """``(spec, train, validation)``, kept for candidates that became champion (the lineage's usual
    nodes), so a long run's fold holds a few words per candidate."""


@dataclass(slots=True)
class _Trials:
    """Each distinct evaluated candidate's validation ``TRIAL_FIGURES``, first record wins."""

    figures: dict[str, tuple[float, float]] = field(default_factory=dict)

    def add(self, record: IterationRecord) -> None:
        candidate = record.candidate
        if not record.evaluated or record.validation is None or candidate is None:
            return
        if candidate.candidate_id not in self.figures:
            ratio, sharpe = (_number(record.validation.get(key)) for key in TRIAL_FIGURES)
            self.figures[candidate.candidate_id] = (ratio, sharpe)


def trial_validation(records: Iterable[IterationRecord]) -> tuple[tuple[float, float], ...]:
    """Each distinct evaluated candidate's validation ``TRIAL_FIGURES``, in first-tried order."""
    trials = _Trials()
    for record in records:
        trials.add(record)
    return tuple(trials.figures.values())


@dataclass(slots=True)
class SearchFold:
    """Folds a run's records, in order, into a :class:`SearchView`.

    Args:
        run_id: the run.
        metric: the champion metric (``loop.champion_metric``).
    """

    run_id: str
    metric: str
    _candidates: int = 0
    _duplicates: int = 0
    _updates: int = 0
    _llm: list[bool] = field(default_factory=list)
    """Per iteration: whether it decided on the LLM (the iterations are counted here)."""
    _ok: list[bool] = field(default_factory=list)
    """Per iteration: whether it was evaluated."""
    _cost: float = 0.0
    _tokens: int = 0
    _best: list[float] = field(default_factory=list)
    _validation: list[float] = field(default_factory=list)
    _made: dict[str, _Made] = field(default_factory=dict)
    _tried: set[str] = field(default_factory=set)
    _champion: str | None = None
    _recent: list[Mapping[str, Any]] = field(default_factory=list)
    _trials: _Trials = field(default_factory=_Trials)

    def add(self, record: IterationRecord) -> None:
        """Fold one committed record."""
        self._trials.add(record)
        self._llm.append(record.decision.method == "llm")
        self._ok.append(record.evaluated)
        if record.llm_usage is not None:
            self._cost += record.llm_usage.cost
            self._tokens += record.llm_usage.tokens
        candidate = record.candidate
        if candidate is not None:
            self._candidates += 1
            cid = candidate.candidate_id
            if record.evaluated:
                self._tried.add(cid)
            if cid in self._made:
                self._duplicates += 1
            else:
                self._made[cid] = _Made(
                    iteration=record.iteration_num,
                    method=candidate.method,
                    operator=candidate.lineage.operator,
                    parents=candidate.lineage.parents,
                    expression=candidate.strategy.expression,
                )
            if record.champion:
                self._made[cid].details = (
                    candidate.strategy.model_dump(mode="json"),
                    dict(record.train or {}),
                    dict(_selected(record)),
                )
        best = self._best[-1] if self._best else math.nan
        validation = self._validation[-1] if self._validation else math.nan
        if record.champion and candidate is not None:
            self._updates += 1
            self._champion = candidate.candidate_id
            best = _number((record.train or {}).get(self.metric))
            validation = _number(_selected(record).get(self.metric))
        self._best.append(best)
        self._validation.append(validation)
        self._recent.append(_decision(record, self.metric))
        del self._recent[:-_RECENT]

    def view(self) -> SearchView:
        """The figures of the records folded so far."""
        llm = np.array(self._llm, dtype=bool)
        ok = np.array(self._ok, dtype=bool)
        return SearchView(
            run_id=self.run_id,
            metric=self.metric,
            iterations=len(llm),
            evaluated=int(ok.sum()),
            candidates=self._candidates,
            duplicates=self._duplicates,
            trials=len(self._tried),
            champion_updates=self._updates,
            llm_iterations=int(llm.sum()),
            llm_successes=int((llm & ok).sum()),
            factor_graph_iterations=int((~llm).sum()),
            factor_graph_successes=int((~llm & ok).sum()),
            cost=self._cost,
            tokens=self._tokens,
            best_train=tuple(self._best),
            champion_validation=tuple(self._validation),
            bins=_bins(llm, ok),
            recent=tuple(reversed(self._recent)),
            lineage=None if self._champion is None else self._lineage(self._champion, set()),
            trial_validation=tuple(self._trials.figures.values()),
        )

    def _lineage(self, cid: str, seen: set[str]) -> LineageNode:
        seen.add(cid)
        made = self._made.get(cid)
        if made is None:
            return LineageNode(cid, None, "unknown", "not in this run", "", {}, {}, {})
        parents = tuple(
            self._lineage(parent, seen)
            for parent in made.parents
            if parent not in seen and len(seen) < _LINEAGE_NODES
        )
        spec, train, validation = made.details or ({}, {}, {})
        return LineageNode(
            candidate_id=cid,
            iteration=made.iteration,
            method=made.method,
            operator=made.operator,
            expression=made.expression,
            spec=spec,
            train=train,
            validation=validation,
            parents=parents,
        )


def search_view(run_id: str, metric: str, records: Iterable[IterationRecord]) -> SearchView:
    """The search view of a run's records (in iteration order)."""
    fold = SearchFold(run_id, metric)
    for record in records:
        fold.add(record)
    return fold.view()


def _number(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _decision(record: IterationRecord, metric: str) -> Mapping[str, Any]:
    candidate = record.candidate
    score = _number((record.train or {}).get(metric))
    return {
        "iteration": record.iteration_num,
        "timestamp": record.timestamp,
        "decided": record.decision.method,
        "used": record.method,
        "reason": record.decision.reason,
        "fallback": record.outcome.fallback is not None,
        "status": record.status,
        "champion": record.champion,
        "expression": None if candidate is None else candidate.strategy.expression,
        "score": _finite(score),
        "error": None if record.error is None else f"{record.error.type}: {record.error.message}",
    }


def _bins(llm: np.ndarray[Any, Any], ok: np.ndarray[Any, Any]) -> tuple[Mapping[str, float], ...]:
    """LLM share and per-method success rate in up to ``_BINS`` equal bins of iterations."""
    n = len(llm)
    if n == 0:
        return ()
    edges = np.unique(np.linspace(0, n, min(_BINS, n) + 1).astype(int))
    out = []
    for lo, hi in itertools.pairwise(edges):
        part_llm, part_ok = llm[lo:hi], ok[lo:hi]
        n_llm = int(part_llm.sum())
        n_fg = len(part_llm) - n_llm
        out.append(
            {
                "first": int(lo),
                "last": int(hi - 1),
                "llm_share": n_llm / len(part_llm),
                "llm_success": float(part_ok[part_llm].mean()) if n_llm else math.nan,
                "factor_graph_success": float(part_ok[~part_llm].mean()) if n_fg else math.nan,
            }
        )
    return tuple(out)


def _charts_of(view: SearchView) -> dict[str, str]:
    iterations = list(range(view.iterations))
    best = np.array(view.best_train, dtype=np.float64)
    validation = np.array(view.champion_validation, dtype=np.float64)
    progress = _charts.line_chart(
        "search-progress",
        f"Run {view.run_id}: the champion's train and validation {view.metric}",
        [
            _charts.Line(f"champion's train {view.metric}", "strategy", best),
            _charts.Line(f"champion's validation {view.metric}", "test", validation),
        ],
        x_ticks=_charts.index_ticks(iterations),
        x_label="iteration",
        y_label=view.metric,
    )
    bins = view.bins
    labels = [int(b["last"]) for b in bins]
    generators = _charts.line_chart(
        "search-generators",
        f"Run {view.run_id}: LLM share and success rate per generator over iterations",
        [
            _charts.Line("LLM share", "llm", np.array([b["llm_share"] for b in bins])),
            _charts.Line("LLM success", "strategy", np.array([b["llm_success"] for b in bins])),
            _charts.Line(
                "factor-graph success",
                "benchmark",
                np.array([b["factor_graph_success"] for b in bins]),
            ),
        ],
        x_ticks=_charts.index_ticks(labels),
        x_label="iteration (end of bin)",
        y_label="share of iterations",
        y_format=_charts.pct,
    )
    return {"progress": progress, "generators": generators}


def _tree(node: LineageNode, metric: str) -> str:
    """The lineage as nested ``<details>``: click a node to see its spec and metrics."""
    where = "" if node.iteration is None else f"iteration {node.iteration}, "
    score = node.train.get(metric)
    shown = f", train {metric} {score:.3f}" if isinstance(score, int | float) else ""
    metrics = "".join(
        f"<tr><td>{escape(k)}</td><td>{_cell(node.train.get(k))}</td>"
        f"<td>{_cell(node.validation.get(k))}</td></tr>"
        for k in sorted(set(node.train) | set(node.validation))
    )
    parents = "".join(_tree(p, metric) for p in node.parents)
    return (
        f'<details class="node" data-candidate="{escape(node.candidate_id)}">'
        f"<summary>{escape(node.operator)} ({escape(where)}{escape(node.method)}{escape(shown)})"
        f"<code>{escape(node.expression)}</code></summary>"
        + (f'<pre class="spec">{escape(_json(node.spec))}</pre>' if node.spec else "")
        + (
            f'<table class="small"><tr><th>metric</th><th>train</th><th>validation</th></tr>'
            f"{metrics}</table>"
            if metrics
            else ""
        )
        + (f'<div class="parents">{parents}</div>' if parents else "")
        + "</details>"
    )


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else escape(str(value))


def _json(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True)


def render_search(view: SearchView) -> str:
    """The search view as an HTML fragment (inline SVG, no scripts)."""
    return template("stratloop.report", "search.html.j2").render(
        view=view,
        charts=_charts_of(view),
        lineage=None if view.lineage is None else _tree(view.lineage, view.metric),
    )


def _selected(record: IterationRecord) -> Mapping[str, Any]:
    """The figures the champion rule read: validation, or a schema 1-2 line's test period."""
    chosen = record.validation if record.validation is not None else record.test
    return chosen or {}


def bucket_labels(edges: Iterable[float], unit: str = "", *, whole: bool = False) -> list[str]:
    """Labels of the buckets ``edges`` split a line into: ``<a``, ``a-b``, ..., ``>=z``.

    ``whole``: the values are integers, so a middle bucket reads ``a-(b-1)``.

    >>> bucket_labels([4, 10]), bucket_labels([5, 9], whole=True), bucket_labels([])
    (['<4', '4-10', '>=10'], ['<5', '5-8', '>=9'], ['all'])
    """
    values = list(edges)
    if not values:
        return ["all"]
    cuts = [f"{edge:g}" for edge in values]
    tops = [f"{edge - 1:g}" for edge in values] if whole else cuts
    middle = [f"{low}-{high}" for low, high in zip(cuts, tops[1:], strict=False)]
    return [f"<{cuts[0]}{unit}", *(m + unit for m in middle), f">={cuts[-1]}{unit}"]


def render_archive(payload: Mapping[str, Any]) -> str:
    """A run's ``archive.json`` as an HTML fragment: one heatmap per island's archive."""
    return "".join(_render_one(archive) for archive in payload["archives"])


def _render_one(archive: Mapping[str, Any]) -> str:
    """One archive: fill figures and the heatmap of best scores.

    Rows are factor family by size bucket, columns beta buckets grouped by
    turnover bucket; a cell shows its elite's score (the champion rule's
    figure) and, on hover, its iteration, expression and raw metric.
    """
    grid = archive["grid"]
    families = list(archive["families"])
    nodes = bucket_labels(grid["nodes_edges"], " nodes", whole=True)
    turnover = bucket_labels(grid["turnover_edges"], "/yr")
    betas = bucket_labels(grid["beta_edges"])
    cells = archive["cells"]
    beta_none = any(cell["beta"] is None for cell in cells)
    columns_per_group = [*betas, *(["none"] if beta_none else [])]
    rows = [f"{family}, {size}" for family in families for size in nodes]
    columns = [f"b {label}" for _ in turnover for label in columns_per_group]
    values: dict[tuple[int, int], tuple[float, str]] = {}
    for cell in cells:
        row = families.index(cell["family"]) * len(nodes) + int(cell["nodes"])
        beta = len(betas) if cell["beta"] is None else int(cell["beta"])
        column = int(cell["turnover"]) * len(columns_per_group) + beta
        values[(row, column)] = (
            float(cell["score"]),
            f"{cell['family']}, turnover {turnover[int(cell['turnover'])]}, beta "
            f"{'none' if cell['beta'] is None else betas[beta]}, {nodes[int(cell['nodes'])]}: "
            f"iteration {cell['iteration']}, score {cell['score']:.4f} (raw {cell['raw']:.4f}) "
            f"{cell['expression']}",
        )
    owner = "" if archive["island"] is None else f"island {archive['island']}'s "
    chart = _charts.grid_heatmap(
        "archive-heatmap",
        f"{owner.capitalize()}diversity archive: the best score per cell ({archive['filled']} "
        f"of {archive['capacity']} cells filled)",
        rows,
        [f"turnover {label}" for label in turnover],
        columns,
        values,
        x_label="validation beta, grouped by annual turnover",
        y_label="family, size",
    )
    fill = "".join(
        f"<td>{escape(family)}: {int(count)}</td>"
        for family, count in archive["fill_by_family"].items()
    )
    return (
        f'<div class="archive"><table class="figures">'
        f"<tr><th>{escape(owner)}cells filled</th><th>candidates offered</th>"
        f"<th>after iteration</th></tr>"
        f"<tr><td>{archive['filled']} of {archive['capacity']}</td><td>{archive['offered']}</td>"
        f"<td>{archive['iterations']}</td></tr></table>"
        f'<table class="small"><tr>{fill}</tr></table>'
        f"<figure>{chart}</figure></div>"
    )
