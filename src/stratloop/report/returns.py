"""The one adapter between the backtest API and the pages: a champion's frozen daily series.

Everything the tear sheet, the dashboard's sparkline and ``/api/.../returns``
show about a strategy's returns comes from :func:`champion_series`, the only
place in :mod:`stratloop.report` that calls :func:`stratloop.backtest_strategy`,
the equal-weight benchmark and the factor analysis. The chart code downstream
is pure arithmetic on the :class:`ChampionSeries` it returns.

The segments are the backtest's own: train (from the signal's warm-up to the
split) and test (the split to the end), each backtested from its first day as
the loop evaluated it, and the benchmark over exactly the same rows with the
strategy's rebalance period and cost. No holdout is evaluated here: a sealed
holdout stays sealed (``holdout`` is None).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stratloop.backtest.benchmark import ExcessMetrics, equal_weight_benchmark, excess_metrics
from stratloop.backtest.evaluate import backtest_strategy
from stratloop.backtest.factor_analysis import analyze_factor
from stratloop.backtest.metrics import Metrics
from stratloop.config.models import BacktestConfig
from stratloop.data.panel import Panel
from stratloop.factors import EvalCache, evaluate
from stratloop.spec import Strategy

__all__ = ["ChampionSeries", "Segment", "champion_series"]

_N_QUANTILES = 5

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Segment:
    """One evaluated period: its name, first and last date, rows and metrics.

    Args:
        name: ``train`` or ``test``.
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
        segments: the evaluated segments, in order (train, then test).
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
    strategy: Strategy, panel: Panel, config: BacktestConfig, *, n_trials: int = 1
) -> ChampionSeries:
    """Backtest ``strategy`` on the run's split and collect every series the pages chart.

    Args:
        strategy: the champion (or any strategy).
        panel: the run's price panel.
        config: the run's backtest configuration.
        n_trials: distinct candidates the run tried, for the deflated Sharpe.

    Raises:
        ExpressionError: the expression does not parse or type-check.
        BacktestError: the split is outside the data or the signal never has a value in train.
    """
    cache = EvalCache(1 << 28)
    result = backtest_strategy(strategy, panel, config, n_trials=n_trials, cache=cache)
    rebalance = strategy.portfolio.rebalance_days
    first = int(np.searchsorted(panel.dates, result.train.dates[0]))
    split = first + len(result.train.dates)
    rows = ((result.train, first, split), (result.test, split, len(panel.dates)))
    segments: list[Segment] = []
    benchmarks: list[Floats] = []
    offset = 0
    for (part, start, stop), name in zip(rows, ("train", "test"), strict=True):
        bench = equal_weight_benchmark(
            panel,
            rebalance,
            cost_bps=config.cost_bps,
            start=start,
            stop=stop,
            annualization=config.annualization,
        )
        benchmarks.append(bench.returns)
        segments.append(
            Segment(
                name=name,
                start=_date(part.dates[0]),
                end=_date(part.dates[-1]),
                first=offset,
                stop=offset + len(part.dates),
                strategy=part.metrics,
                benchmark=bench.metrics,
                excess=excess_metrics(
                    part.returns, bench.returns, annualization=config.annualization
                ),
            )
        )
        offset += len(part.dates)
    signal = evaluate(strategy.expression, panel, cache=cache)
    factor = analyze_factor(
        signal[first:], panel.close[first:], horizon=rebalance, n_quantiles=_N_QUANTILES
    )
    return ChampionSeries(
        strategy=strategy,
        dataset=panel.name,
        dates=panel.dates[first:],
        returns=np.concatenate([result.train.returns, result.test.returns]),
        benchmark=np.concatenate(benchmarks),
        turnover=np.concatenate([result.train.turnover, result.test.turnover]),
        segments=tuple(segments),
        holdout=None,
        ic=factor.ic,
        rank_ic=factor.rank_ic,
        quantile_returns=factor.quantile_returns,
        horizon=rebalance,
    )


def _date(value: np.datetime64) -> dt.date:
    day: dt.date = value.astype("datetime64[D]").item()
    return day
