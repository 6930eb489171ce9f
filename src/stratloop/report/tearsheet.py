"""The champion's tear sheet: one self-contained HTML page (inline CSS and SVG, no network).

What it shows, all from one :class:`~stratloop.report.returns.ChampionSeries`:
cumulative returns of the strategy and the equal-weight benchmark (linear and
log scale) with the train / validation (/ holdout) boundaries marked and the holdout's state,
the underwater (drawdown) chart, the monthly returns heatmap and the yearly
returns table, rolling 6-month Sharpe and beta, the daily IC and RankIC with
their rolling mean, mean forward return per signal quintile, turnover over
time, the spec with its lineage, and the metrics of each segment beside the
benchmark's and the excess over it. The verdict at the top is the deflated
one (:func:`stratloop.report.selection.selection_verdict`, the same that
``stratloop run`` and ``show`` print): the validation excess deflated for the
N distinct candidates tried, with N and V; each segment's own t-test is shown
under its table as one comparison, not a verdict. Every time axis is
labelled with dates. The run's search view closes the page.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from stratloop.backtest.metrics import METRIC_NAMES
from stratloop.backtest.verdict import Verdict, benchmark_verdict
from stratloop.config.models import StratloopConfig
from stratloop.data.panel import Panel
from stratloop.errors import RunError
from stratloop.iteration import IterationRecord
from stratloop.report import _charts
from stratloop.report.analytics import (
    drawdown,
    equity_curve,
    monthly_returns,
    rolling_beta,
    rolling_mean,
    rolling_sharpe,
    yearly_returns,
)
from stratloop.report.returns import ChampionSeries, SegmentFigures, champion_series
from stratloop.report.search import SearchView, render_archive, render_search, search_view
from stratloop.report.selection import SelectionVerdict, selection_verdict
from stratloop.report.templating import template
from stratloop.spec import Strategy

__all__ = [
    "CHARTS",
    "TearSheet",
    "build_tearsheet",
    "render_tearsheet",
    "segment_verdict",
    "write_tearsheet",
]

ROLLING_DAYS = 126
"""Six months of trading days: the window of the rolling Sharpe and beta."""
_IC_WINDOW = 63
_TURNOVER_DAYS = 252
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

CHARTS: tuple[str, ...] = (
    "cumulative",
    "cumulative-log",
    "drawdown",
    "monthly",
    "yearly",
    "rolling-sharpe",
    "rolling-beta",
    "ic",
    "quantiles",
    "turnover",
)
"""The ``data-chart`` names of the tear sheet's charts, in page order."""

_PERCENT = frozenset(
    {"annual_return", "volatility", "max_drawdown", "hit_rate", "excess_return", "tracking_error"}
)


@dataclass(frozen=True, slots=True, eq=False)
class TearSheet:
    """Everything the tear sheet shows.

    Args:
        run_id: the run.
        metric: the run's champion metric.
        champion: the run's ``champion.json``.
        series: the champion's daily series and segment metrics.
        n_trials: distinct candidates the run evaluated.
        llm_model: the run's LLM model, when the champion's lineage used it.
        search: the run's search view.
        generated_at: when the page was made (UTC, ISO 8601).
        selection: the deflated verdict on the champion (None for a champion chosen
            before the validation folds, history schema 1-2).
        archive: the run's ``archive.json`` when it keeps a diversity archive.
    """

    run_id: str
    metric: str
    champion: Mapping[str, Any]
    series: ChampionSeries
    n_trials: int
    llm_model: str | None
    search: SearchView
    generated_at: str
    selection: SelectionVerdict | None
    archive: Mapping[str, Any] | None = None


def build_tearsheet(
    run_id: str,
    config: StratloopConfig,
    champion: Mapping[str, Any] | None,
    records: Iterable[IterationRecord] | SearchView,
    panel: Panel,
    *,
    holdout_opened: bool = False,
    archive: Mapping[str, Any] | None = None,
) -> TearSheet:
    """Backtest a run's champion again on its panel, beside the run's search view.

    Args:
        run_id: the run.
        config: the run's configuration (as stored in its directory).
        champion: the run's ``champion.json`` (None: no champion, an error).
        records: the run's committed records in order, or their search view.
        panel: the run's panel.
        holdout_opened: whether ``stratloop holdout`` opened this champion's holdout;
            the page shows it only then (sealed otherwise).
        archive: the run's ``archive.json``, shown as a heatmap when given.

    Raises:
        RunError: the run has no champion yet.
    """
    if champion is None:
        raise RunError(
            f"run {run_id} has no champion yet, so there is no tear sheet; wait for an "
            "evaluated candidate that meets the champion rule (see stratloop show)"
        )
    view = (
        records
        if isinstance(records, SearchView)
        else search_view(run_id, config.loop.champion_metric, records)
    )
    strategy = Strategy.model_validate(champion["spec"], strict=False)
    n_trials = max(view.trials, 1)
    methods = _lineage_methods(view)
    return TearSheet(
        run_id=run_id,
        metric=config.loop.champion_metric,
        champion=champion,
        series=champion_series(
            strategy, panel, config.backtest, n_trials=n_trials, holdout=holdout_opened
        ),
        n_trials=n_trials,
        llm_model=config.llm.model if "llm" in methods else None,
        search=view,
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        selection=selection_verdict(champion, view, config),
        archive=archive,
    )


def _lineage_methods(view: SearchView) -> set[str]:
    found: set[str] = set()
    stack = [] if view.lineage is None else [view.lineage]
    while stack:
        node = stack.pop()
        found.add(node.method)
        stack.extend(node.parents)
    return found


def _charts_of(series: ChampionSeries) -> dict[str, str]:
    dates = series.dates
    ticks = _charts.date_ticks(dates)
    markers = [(seg.first, f"{seg.name} from {seg.start}") for seg in series.segments]
    strategy, benchmark = series.returns, series.benchmark
    equity = [
        _charts.Line("strategy", "strategy", equity_curve(strategy)),
        _charts.Line("equal weight", "benchmark", equity_curve(benchmark)),
    ]
    common: dict[str, Any] = {"x_ticks": ticks, "x_label": "date"}
    charts = {
        "cumulative": _charts.line_chart(
            "cumulative",
            "Cumulative return: growth of 1, strategy vs equal weight",
            equity,
            y_label="growth of 1",
            markers=markers,
            **common,
        ),
        "cumulative-log": _charts.line_chart(
            "cumulative-log",
            "Cumulative return, log scale",
            equity,
            y_label="growth of 1 (log)",
            log=True,
            markers=markers,
            **common,
        ),
        "drawdown": _charts.line_chart(
            "drawdown",
            "Drawdown (underwater): fall from the running peak",
            [
                _charts.Line("strategy", "strategy", drawdown(strategy)),
                _charts.Line("equal weight", "benchmark", drawdown(benchmark)),
            ],
            y_label="drawdown",
            y_format=_charts.pct,
            zero=True,
            fill=True,
            markers=markers,
            **common,
        ),
        "rolling-sharpe": _charts.line_chart(
            "rolling-sharpe",
            "Rolling 6-month Sharpe ratio",
            [
                _charts.Line("strategy", "strategy", rolling_sharpe(strategy, ROLLING_DAYS)),
                _charts.Line("equal weight", "benchmark", rolling_sharpe(benchmark, ROLLING_DAYS)),
            ],
            y_label="Sharpe (annualised)",
            zero=True,
            markers=markers,
            **common,
        ),
        "rolling-beta": _charts.line_chart(
            "rolling-beta",
            "Rolling 6-month beta to equal weight",
            [_charts.Line("beta", "strategy", rolling_beta(strategy, benchmark, ROLLING_DAYS))],
            y_label="beta",
            zero=True,
            markers=markers,
            **common,
        ),
        "ic": _charts.line_chart(
            "ic",
            f"Daily IC and RankIC against the {series.horizon}-day forward return, "
            f"with {_IC_WINDOW}-day rolling means",
            [
                _charts.Line("IC", "ic-raw", series.ic),
                _charts.Line(
                    f"IC {_IC_WINDOW}-day mean", "strategy", rolling_mean(series.ic, _IC_WINDOW)
                ),
                _charts.Line(
                    f"RankIC {_IC_WINDOW}-day mean",
                    "benchmark",
                    rolling_mean(series.rank_ic, _IC_WINDOW),
                ),
            ],
            y_label="correlation",
            zero=True,
            markers=markers,
            **common,
        ),
        "quantiles": _charts.bar_chart(
            "quantiles",
            f"Mean {series.horizon}-day forward return by signal quintile",
            [f"Q{q + 1}" for q in range(len(series.quantile_returns))],
            [float(v) for v in series.quantile_returns],
            x_label="signal quintile (Q1 lowest)",
            y_label="mean forward return",
            y_format=_charts.pct,
        ),
        "turnover": _charts.line_chart(
            "turnover",
            "Turnover over the trailing year (sum of absolute weight changes)",
            [_charts.Line("strategy", "strategy", _trailing_sum(series.turnover, _TURNOVER_DAYS))],
            y_label="turnover per year",
            markers=markers,
            **common,
        ),
    }
    months = monthly_returns(dates, strategy)
    years = sorted({year for year, _ in months})
    charts["monthly"] = _charts.heatmap(
        "monthly",
        "Monthly returns of the strategy (%)",
        years,
        _MONTHS,
        months,
        x_label="month",
        y_label="year",
    )
    strategy_years = yearly_returns(dates, strategy)
    bench_years = yearly_returns(dates, benchmark)
    labels = [str(y) for y in strategy_years]
    charts["yearly"] = _charts.bar_chart(
        "yearly",
        "Yearly return of the strategy minus equal weight",
        labels,
        [strategy_years[y] - bench_years[y] for y in strategy_years],
        x_label="year",
        y_label="excess return",
        y_format=_charts.pct,
    )
    return charts


def _trailing_sum(values: np.ndarray[Any, Any], window: int) -> np.ndarray[Any, Any]:
    sums = np.cumsum(np.r_[0.0, values])
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        out[window - 1 :] = sums[window:] - sums[:-window]
    return out


def _fmt(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value * 100:.2f}%" if name in _PERCENT else f"{value:.3f}"


def _segment_table(segment: SegmentFigures) -> dict[str, Any]:
    strategy = segment.strategy.as_dict()
    benchmark = segment.benchmark.as_dict()
    rows = []
    for name in METRIC_NAMES:
        s, b = strategy.get(name), benchmark.get(name)
        difference = s - b if isinstance(s, float) and isinstance(b, float) else None
        rows.append((name, _fmt(name, s), _fmt(name, b), _fmt(name, difference)))
    excess = [(name, _fmt(name, value)) for name, value in segment.excess.as_dict().items()]
    return {"segment": segment, "rows": rows, "excess": excess, "verdict": segment_verdict(segment)}


def segment_verdict(segment: SegmentFigures) -> Verdict:
    """Whether the strategy beats equal weight on ``segment`` alone (5%, one-sided t-test).

    On train and validation the champion is the best of many candidates, so a
    single comparison there says too much: the sentence says it is not deflated (the
    verdict is :attr:`TearSheet.selection`, the one ``stratloop run`` and ``show`` print).
    """
    excess = segment.excess
    verdict = benchmark_verdict(t_stat=excess.t_stat, p_value=excess.p_value)
    if segment.name == "holdout":
        return verdict
    alone = "significant" if excess.p_value < verdict.level else "not significant"
    return replace(
        verdict,
        text=(
            f"one comparison, not deflated for the candidates tried: excess t = "
            f"{excess.t_stat:.2f}, one-sided p = {excess.p_value:.3f} ({alone} at "
            f"{verdict.level:.0%} on its own; the verdict is the deflated one)"
        ),
    )


def _yearly_rows(series: ChampionSeries) -> list[tuple[int, str, str, str]]:
    strategy = yearly_returns(series.dates, series.returns)
    benchmark = yearly_returns(series.dates, series.benchmark)
    return [
        (
            year,
            _fmt("annual_return", strategy[year]),
            _fmt("annual_return", benchmark[year]),
            _fmt("annual_return", strategy[year] - benchmark[year]),
        )
        for year in strategy
    ]


def render_tearsheet(sheet: TearSheet) -> str:
    """The tear sheet as one HTML document."""
    series = sheet.series
    champion = sheet.champion
    return template("stratloop.report", "tearsheet.html.j2").render(
        sheet=sheet,
        series=series,
        charts=_charts_of(series),
        tables=[_segment_table(seg) for seg in series.segments],
        yearly=_yearly_rows(series),
        spec=json.dumps(champion.get("spec", {}), indent=2, sort_keys=True),
        search=render_search(sheet.search),
        archive=None if sheet.archive is None else render_archive(sheet.archive),
        lineage=sheet.search.lineage,
    )


def write_tearsheet(sheet: TearSheet, path: Path) -> Path:
    """Write the tear sheet to ``path`` (replacing it atomically) and return the path."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_tearsheet(sheet), encoding="utf-8")
    tmp.replace(path)
    return path
