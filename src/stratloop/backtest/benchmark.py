"""The equal-weight benchmark of the tradable universe, and a strategy's excess over it.

The benchmark *is* a run of the engine: a constant signal of 1.0 under a
``Threshold(upper=0)`` rule holds every eligible asset (a close price on the
rebalance day) at ``1/m``, on the strategy's rebalance schedule (same
``start`` and ``rebalance_days``, so the same rebalance dates), with weights
drifting between rebalances and the same cost in bps of turnover. An asset
without a price is excluded, or closed into cash, exactly as the engine does
for a strategy: there is one simulation, not two. On a gapped panel (stocks
listing and delisting) equal weight trades on rebalance days only, plus the
forced sale of a stock that loses its price: a newly listed stock is bought
at the next rebalance, each change of the priced set costs its turnover, and
a rebalance day with no price at all sells everything into cash and the next
one buys back in, each at full cost.

Excess metrics compare daily returns ``s`` (strategy) and ``b`` (benchmark)
of the same days, ``d = s - b``, ``A`` the annualisation, ``n`` days:

- ``excess_return``: annualised mean excess, ``mean(d) * A``;
- ``tracking_error``: ``std(d, ddof=1) * sqrt(A)``;
- ``information_ratio``: ``mean(d) / std(d, ddof=1) * sqrt(A)``;
- ``beta``: OLS slope of ``s`` on ``b``, ``cov(s, b) / var(b)``;
- ``correlation``: Pearson correlation of ``s`` and ``b``;
- ``t_stat``: ``mean(d) / (std(d, ddof=1) / sqrt(n))``;
- ``p_value``: one-sided, ``P(T >= t_stat)`` for Student's t with ``n - 1``
  degrees of freedom (the alternative: the strategy beats the benchmark).

Which benchmark (``backtest.benchmark``, resolved by :func:`resolve_benchmark`):
``equal_weight`` (above); ``none`` (no benchmark: no excess metric is
computed, and the choice is recorded with the configuration); the name of a
panel column, or the path of a CSV file of dates and one price column
(aligned on the panel's dates). A price benchmark is held buy-and-hold with
no cost: its return is 0 on a segment's first day (nothing is held before
it, as for the strategy) and ``p[t] / p[t - 1] - 1`` after; a segment day
without its price is an error, never a silent 0.

Degenerate cases, as in :mod:`stratloop.backtest.metrics`: a ratio whose
denominator is below 1e-12 (no tracking error, a flat benchmark, a flat
strategy) is 0.0; with fewer than 2 days every figure is 0.0 except
``p_value``, which is 1.0 (no evidence), as it is whenever ``t_stat`` is
undefined. Nothing is NaN or infinite, so :meth:`ExcessMetrics.as_dict` is
strict JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import stdtr

from stratloop.backtest._plain import PlainRecord
from stratloop.backtest.engine import BacktestResult, run_backtest
from stratloop.data.panel import Panel
from stratloop.errors import BacktestError, DataError
from stratloop.spec import Threshold

__all__ = [
    "EQUAL_WEIGHT",
    "NO_BENCHMARK",
    "Benchmark",
    "ExcessMetrics",
    "equal_weight_benchmark",
    "excess_metrics",
    "resolve_benchmark",
]

EQUAL_WEIGHT = "equal_weight"
"""``backtest.benchmark`` for the equal-weight portfolio of the priced universe."""

NO_BENCHMARK = "none"
"""``backtest.benchmark`` for no benchmark."""

_TINY = 1e-12
"""Denominators below this are float noise around zero, not risk."""


def equal_weight_benchmark(
    panel: Panel,
    rebalance_days: int,
    *,
    cost_bps: float,
    start: int = 0,
    stop: int | None = None,
    annualization: int = 252,
) -> BacktestResult:
    """The equal-weight portfolio of the assets priced on each rebalance day.

    Args:
        panel: the price panel.
        rebalance_days: the strategy's rebalance period (same dates from ``start``).
        cost_bps: cost in basis points of turnover, as for the strategy.
        start: first row (the strategy segment's first rebalance).
        stop: one past the last row (default: the panel's end).
        annualization: trading days per year, for the metrics.

    Returns:
        The engine's result for the benchmark over rows ``start:stop``.
    """
    signal = np.ones(panel.shape)
    rule = Threshold(upper=0.0, rebalance_days=rebalance_days)
    return run_backtest(
        signal, panel, rule, cost_bps=cost_bps, start=start, stop=stop, annualization=annualization
    )


@dataclass(frozen=True, slots=True, eq=False)
class Benchmark:
    """A resolved benchmark: equal weight, or a price series on the panel's dates.

    Args:
        name: what ``backtest.benchmark`` says.
        label: how sentences name it ("equal weight", "SPY").
        prices: the price per panel row (NaN where missing); None for equal weight.
    """

    name: str
    label: str
    prices: npt.NDArray[np.float64] | None = None

    def price_returns(self, start: int, stop: int) -> npt.NDArray[np.float64]:
        """Buy-and-hold daily returns of a price benchmark over rows ``start:stop``.

        Raises:
            BacktestError: a row of the segment has no price.
        """
        assert self.prices is not None
        window = self.prices[start:stop]
        missing = ~(np.isfinite(window) & (window > 0.0))
        if missing.any():
            row = start + int(np.argmax(missing))
            raise BacktestError(
                f"benchmark {self.label!r} has no positive price at panel row {row}, inside the "
                f"segment of rows {start}-{stop - 1}; give the benchmark a price on every date "
                "of the data, or choose backtest.benchmark: equal_weight"
            )
        returns = np.zeros(stop - start)
        returns[1:] = window[1:] / window[:-1] - 1.0
        return returns


def resolve_benchmark(panel: Panel, spec: str) -> Benchmark | None:
    """The benchmark ``backtest.benchmark`` names on this panel (None for ``none``).

    Raises:
        BacktestError: ``spec`` is neither a keyword, a column of the panel nor
            a readable CSV file of one price column.
    """
    if spec == NO_BENCHMARK:
        return None
    if spec == EQUAL_WEIGHT:
        return Benchmark(EQUAL_WEIGHT, "equal weight")
    if spec in panel.assets:
        return Benchmark(spec, spec, panel.close[:, panel.assets.index(spec)])
    from stratloop.data.loader import load_panel  # noqa: PLC0415 - pandas only for a file

    try:
        series = load_panel(spec, layout="wide")
    except DataError as exc:
        columns = ", ".join(panel.assets[:8]) + (", ..." if len(panel.assets) > 8 else "")
        raise BacktestError(
            f"backtest.benchmark {spec!r} is not equal_weight, none, a column of panel "
            f"{panel.name!r} ({columns}) or a readable price file: {exc}"
        ) from exc
    if len(series.assets) != 1:
        raise BacktestError(
            f"backtest.benchmark file {spec!r} has {len(series.assets)} price columns "
            f"({', '.join(series.assets[:5])}); a benchmark file holds dates and one price column"
        )
    prices = np.full(len(panel.dates), np.nan)
    found = np.searchsorted(series.dates, panel.dates)
    inside = found < len(series.dates)
    matched = np.zeros(len(panel.dates), dtype=np.bool_)
    matched[inside] = series.dates[found[inside]] == panel.dates[inside]
    prices[matched] = series.close[found[matched], 0]
    return Benchmark(spec, series.assets[0], prices)


@dataclass(frozen=True, slots=True)
class ExcessMetrics(PlainRecord[float | int]):
    """A strategy's daily returns against the benchmark's (definitions in the module docstring)."""

    excess_return: float
    tracking_error: float
    information_ratio: float
    beta: float
    correlation: float
    t_stat: float
    p_value: float
    n_days: int


def excess_metrics(
    strategy: npt.NDArray[np.float64],
    benchmark: npt.NDArray[np.float64],
    *,
    annualization: int = 252,
) -> ExcessMetrics:
    """Excess metrics of ``strategy`` over ``benchmark`` daily returns of the same days.

    Args:
        strategy: the strategy's daily returns.
        benchmark: the benchmark's daily returns, same length.
        annualization: periods per year.

    Raises:
        BacktestError: the two series differ in length.
    """
    if strategy.shape != benchmark.shape or strategy.ndim != 1:
        raise BacktestError(
            f"strategy and benchmark returns must be 1-d of the same length, "
            f"got shapes {strategy.shape} and {benchmark.shape}"
        )
    n_days = len(strategy)
    if n_days < 2:
        return ExcessMetrics(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, n_days)
    root = math.sqrt(annualization)
    excess = strategy - benchmark
    mean = float(excess.mean())
    spread = float(np.std(excess, ddof=1))
    strategy_centred = strategy - strategy.mean()
    benchmark_centred = benchmark - benchmark.mean()
    covariance = float(np.dot(strategy_centred, benchmark_centred))
    benchmark_ss = float(np.dot(benchmark_centred, benchmark_centred))
    strategy_ss = float(np.dot(strategy_centred, strategy_centred))
    t_stat = _ratio(mean, spread) * math.sqrt(n_days)
    return ExcessMetrics(
        excess_return=mean * annualization,
        tracking_error=spread * root,
        information_ratio=_ratio(mean, spread) * root,
        beta=_ratio(covariance, benchmark_ss),
        correlation=_ratio(covariance, math.sqrt(benchmark_ss * strategy_ss)),
        t_stat=t_stat,
        p_value=float(stdtr(n_days - 1, -t_stat)) if spread > _TINY else 1.0,
        n_days=n_days,
    )


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > _TINY else 0.0
