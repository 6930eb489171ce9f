"""The one adapter between the backtest API and the pages: a champion's frozen daily series.

Everything the tear sheet, the dashboard's sparkline and ``/api/.../returns``
show about a strategy's returns comes from :func:`champion_series`, the only
place in :mod:`stratloop.report` that calls :func:`stratloop.backtest_strategy`,
the equal-weight benchmark and the factor analysis. The chart code downstream
is pure arithmetic on the :class:`ChampionSeries` it returns.

The segments are the protocol's own (:class:`stratloop.backtest.Study`):
the train block the search saw, the walk-forward validation folds the
champion was chosen on (concatenated, purge gaps left out), and the holdout
only when the run's holdout was opened (``stratloop holdout``); each with the
benchmark over exactly the same days, rebalance period and cost. While the
holdout is sealed nothing here reads a holdout price: the turnover and factor
series are computed on the panel cut at the holdout's first date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stratloop.backtest.benchmark import ExcessMetrics
from stratloop.backtest.engine import run_backtest
from stratloop.backtest.evaluate import backtest_strategy
from stratloop.backtest.factor_analysis import analyze_factor
from stratloop.backtest.metrics import Metrics
from stratloop.config.models import BacktestConfig
from stratloop.data.panel import Panel
from stratloop.errors import BacktestError
from stratloop.factors import EvalCache, evaluate
from stratloop.spec import Strategy

__all__ = ["ChampionSeries", "Segment", "champion_series"]

_N_QUANTILES = 5

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Segment:
    """One evaluated period: its name, first and last date, rows and metrics.

    Args:
        name: ``train``, ``validation`` or ``holdout``.
        start: first date.
        end: last date.
        first: first row of the segment in :attr:`ChampionSeries.dates`.
        stop: one past its last row.
        strategy: the strategy's metrics on the segment.
        benchmark: the benchmark's metrics on the segment.
        excess: the strategy's excess over the benchmark on the segment.
    """

    name: str
    start: dt.date
    end: dt.date
    first: int
    stop: int
    strategy: Metrics
    benchmark: Metrics
    excess: ExcessMetrics


@dataclass(frozen=True, slots=True, eq=False)
class ChampionSeries:
    """A strategy's daily series over its evaluated segments, for charts and exports.

    Args:
        strategy: the strategy.
        dataset: the panel's name.
        dates: the days of the segments, in order.
        returns: the strategy's daily net returns.
        benchmark: the equal-weight benchmark's daily net returns, same days.
        turnover: the strategy's daily turnover.
        segments: the evaluated segments, in order (train, validation, then the holdout
            when it was opened).
        holdout: the holdout segment if it was opened; None while sealed.
        ic: daily IC of the signal against the forward return over the rebalance period.
        rank_ic: daily RankIC, same days.
        quantile_returns: mean forward return per signal quintile, lowest first.
        horizon: the forward-return horizon of the factor figures (trading days).
    """

    strategy: Strategy
    dataset: str
    dates: npt.NDArray[np.datetime64]
    returns: Floats
    benchmark: Floats
    turnover: Floats
    segments: tuple[Segment, ...]
    holdout: Segment | None
    ic: Floats
    rank_ic: Floats
    quantile_returns: Floats
    horizon: int

    def daily_rows(self) -> list[tuple[str, str, float, float]]:
        """``(date, segment, strategy return, benchmark return)`` for each day, in order."""
        rows = []
        for segment in self.segments:
            for row in range(segment.first, segment.stop):
                day = str(self.dates[row].astype("datetime64[D]"))
                rows.append(
                    (day, segment.name, float(self.returns[row]), float(self.benchmark[row]))
                )
        return rows

    def csv_text(self) -> str:
        """The daily rows as CSV with a header; floats in full precision (``repr``)."""
        lines = ["date,segment,strategy,benchmark"]
        lines.extend(f"{d},{s},{r!r},{b!r}" for d, s, r, b in self.daily_rows())
        return "\n".join(lines) + "\n"


def champion_series(
    strategy: Strategy,
    panel: Panel,
    config: BacktestConfig,
    *,
    n_trials: int = 1,
    holdout: bool = False,
) -> ChampionSeries:
    """Backtest ``strategy`` under the run's protocol and collect every series the pages chart.

    Args:
        strategy: the champion (or any strategy).
        panel: the run's price panel.
        config: the run's backtest configuration (its benchmark must not be ``none``).
        n_trials: distinct candidates the run tried, for the deflated Sharpe.
        holdout: include the holdout; only for a run whose holdout was opened.

    Raises:
        ExpressionError: the expression does not parse or type-check.
        BacktestError: the protocol does not fit the data, or the run has no benchmark.
    """
    cache = EvalCache(1 << 28)
    result = backtest_strategy(
        strategy, panel, config, holdout=holdout, n_trials=n_trials, cache=cache
    )
    parts = [result.train, result.validation]
    if result.holdout is not None:
        parts.append(result.holdout)
    segments: list[Segment] = []
    offset = 0
    for part in parts:
        if part.benchmark is None or part.excess is None or part.benchmark_returns is None:
            raise BacktestError(
                "the tear sheet sets the strategy beside its benchmark, but this run has "
                "backtest.benchmark: none; backtest it with a benchmark "
                "(stratloop backtest --benchmark equal_weight)"
            )
        segments.append(
            Segment(
                name=part.name,
                start=part.start,
                end=part.end,
                first=offset,
                stop=offset + len(part.dates),
                strategy=part.metrics,
                benchmark=part.benchmark,
                excess=part.excess,
            )
        )
        offset += len(part.dates)
    dates = np.concatenate([part.dates for part in parts])
    visible = panel
    if result.holdout is None:
        cut = int(np.searchsorted(panel.dates, np.datetime64(result.evaluation.holdout_start)))
        visible = panel.slice_rows(0, cut)
    signal = evaluate(strategy.expression, visible, cache=cache)
    rows = np.searchsorted(visible.dates, dates)
    daily = run_backtest(
        signal,
        visible,
        strategy,
        cost_bps=config.cost_bps,
        start=int(rows[0]),
        annualization=config.annualization,
    )
    rebalance = strategy.portfolio.rebalance_days
    first = int(rows[0])
    factor = analyze_factor(
        signal[first:], visible.close[first:], horizon=rebalance, n_quantiles=_N_QUANTILES
    )
    return ChampionSeries(
        strategy=strategy,
        dataset=panel.name,
        dates=dates,
        returns=np.concatenate([part.returns for part in parts]),
        benchmark=np.concatenate([part.benchmark_returns for part in parts]),
        turnover=daily.turnover[rows - first],
        segments=tuple(segments),
        holdout=segments[-1] if result.holdout is not None else None,
        ic=factor.ic[rows - first],
        rank_ic=factor.rank_ic[rows - first],
        quantile_returns=factor.quantile_returns,
        horizon=rebalance,
    )


def _date(value: np.datetime64) -> dt.date:
    day: dt.date = value.astype("datetime64[D]").item()
    return day
