"""One candidate under the research protocol: train block, walk-forward validation, holdout.

The rows are laid out by :mod:`stratloop.backtest.split`: a selection region
(a train block, then ``backtest.folds`` validation folds) and a sealed
holdout. :class:`Study` prepares a panel once (the holdout start, a view of
the selection region, the benchmark) and then:

- :meth:`Study.evaluate` is what the loop's workers call. It evaluates the
  expression on the *selection rows only* (the holdout's prices are not even
  in the arrays it reads), backtests the strategy and its benchmark once over
  the selection region from the signal's first value (one continuous
  portfolio, rebalanced every ``rebalance_days`` from there), and slices the
  daily series into the train block and the validation windows. The
  validation figures are those of the folds' days concatenated.
- :meth:`Study.holdout` backtests the strategy and the benchmark afresh on
  the holdout rows (first rebalance on the holdout's first day), on the full
  panel. Only ``stratloop holdout`` and a researcher asking for it call it.

Every segment carries the strategy's metrics, the benchmark's metrics, the
excess metrics (:mod:`stratloop.backtest.benchmark`) and a factor summary:
IC and RankIC of the signal against the forward return over the rebalance
period, measured on the segment's rebalance days, with forward returns cut
at the segment's end (a train figure never reads a validation price, a
validation figure never a holdout price), the quintile long-short spread, the
top-quintile turnover and the rank autocorrelation at that lag
(:mod:`stratloop.backtest.factor_analysis`).
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from stratloop._types import FloatPanel
from stratloop.backtest._plain import PlainRecord
from stratloop.backtest.benchmark import (
    Benchmark,
    ExcessMetrics,
    equal_weight_benchmark,
    excess_metrics,
    resolve_benchmark,
)
from stratloop.backtest.deflated import return_moments
from stratloop.backtest.engine import BacktestResult, run_backtest
from stratloop.backtest.factor_analysis import (
    DEFAULT_DECAY_HORIZONS,
    analyze_factor,
    daily_factor,
    summarize_ic,
)
from stratloop.backtest.metrics import Metrics, compute_metrics
from stratloop.backtest.split import Layout, fold_layout, split_index
from stratloop.config.models import BacktestConfig
from stratloop.data.embedded import load_dataset
from stratloop.data.panel import Panel
from stratloop.errors import BacktestError
from stratloop.factors import EvalCache, evaluate, parse
from stratloop.factors.limits import EVALUATION_LIMITS
from stratloop.spec import Strategy, TopN

__all__ = [
    "N_QUANTILES",
    "Decay",
    "Evaluation",
    "FactorSummary",
    "Segment",
    "StrategyBacktest",
    "Study",
    "backtest_strategy",
    "evaluate_strategy",
]

_DEFAULT_PORTFOLIO = TopN(n=5)
"""The portfolio an expression given alone is traded with (as ``stratloop backtest``)."""

N_QUANTILES = 5
"""Quantiles of the factor summary's long-short spread and turnover (quintiles)."""

_BENCHMARK_CACHE = 64
"""Equal-weight benchmark runs a study keeps (one per schedule and start row)."""

Series = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FactorSummary(PlainRecord[float | int]):
    """A signal's factor figures on one segment (see the module docstring).

    Args:
        horizon: forward-return horizon, the rebalance period.
        ic: mean daily IC over the measured days.
        icir: ``ic / std``.
        ic_t_stat: ``icir * sqrt(days)``.
        rank_ic: mean daily RankIC.
        rank_icir: its ``mean / std``.
        rank_ic_t_stat: its t-statistic.
        days: measured days (rebalance days with enough pairs).
        long_short: mean top-minus-bottom quintile forward return per horizon.
        turnover: mean share of the top quintile replaced after one horizon.
        autocorrelation: mean rank autocorrelation at lag ``horizon``.
    """

    horizon: int
    ic: float
    icir: float
    ic_t_stat: float
    rank_ic: float
    rank_icir: float
    rank_ic_t_stat: float
    days: int
    long_short: float
    turnover: float
    autocorrelation: float


@dataclass(frozen=True, slots=True, eq=False)
class Segment:
    """One stretch of days: the strategy's and the benchmark's daily returns and figures.

    Args:
        name: ``train``, ``validation``, ``fold 1``, ... or ``holdout``.
        dates: the days.
        returns: the strategy's daily returns.
        metrics: the strategy's metrics.
        benchmark_returns: the benchmark's daily returns, or None without a benchmark.
        benchmark: the benchmark's metrics, or None.
        excess: the strategy's excess over the benchmark, or None.
        factor: the signal's factor summary.
    """

    name: str
    dates: npt.NDArray[np.datetime64]
    returns: Series
    metrics: Metrics
    benchmark_returns: Series | None
    benchmark: Metrics | None
    excess: ExcessMetrics | None
    factor: FactorSummary

    @property
    def start(self) -> dt.date:
        """The segment's first day."""
        return _date(self.dates[0])

    @property
    def end(self) -> dt.date:
        """The segment's last day."""
        return _date(self.dates[-1])

    def summary(self) -> dict[str, Any]:
        """The JSON mapping the loop records: metrics and excess flat, benchmark and factor nested.

        Excess keys (present only with a benchmark): ``excess_return``,
        ``tracking_error``, ``information_ratio``, ``beta``, ``correlation``,
        ``excess_t_stat``, ``excess_p_value``, ``excess_sharpe`` (the
        strategy's Sharpe minus the benchmark's), and ``excess_skewness`` /
        ``excess_kurtosis`` of the daily excess (for the deflated Sharpe).
        """
        out: dict[str, Any] = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        out.update(self.metrics.as_dict())
        if self.excess is not None and self.benchmark is not None:
            out.update(_excess_fields(self))
        out["benchmark"] = None if self.benchmark is None else self.benchmark.as_dict()
        out["factor"] = self.factor.as_dict()
        return out


def _excess_fields(segment: Segment) -> dict[str, float]:
    excess, benchmark = segment.excess, segment.benchmark
    assert excess is not None
    assert benchmark is not None
    assert segment.benchmark_returns is not None
    moments = return_moments(segment.returns - segment.benchmark_returns)
    skewness, kurtosis = (0.0, 3.0) if moments is None else moments[1:]
    return {
        "excess_return": excess.excess_return,
        "tracking_error": excess.tracking_error,
        "information_ratio": excess.information_ratio,
        "beta": excess.beta,
        "correlation": excess.correlation,
        "excess_t_stat": excess.t_stat,
        "excess_p_value": excess.p_value,
        "excess_sharpe": segment.metrics.sharpe - benchmark.sharpe,
        "excess_skewness": skewness,
        "excess_kurtosis": kurtosis,
    }


_FOLD_KEYS = (
    "start",
    "end",
    "n_days",
    "n_trades",
    "annual_return",
    "sharpe",
    "max_drawdown",
    "excess_return",
    "information_ratio",
    "excess_t_stat",
)
"""The figures each fold records."""


@dataclass(frozen=True, slots=True, eq=False)
class Evaluation:
    """What selection sees of one strategy: the train block and the validation folds.

    Args:
        train: the train block (what the search's feedback reads).
        validation: the validation folds' days concatenated (what selection reads).
        folds: each fold's validation window, oldest first.
        fold_train: each fold's train window as ``(first, last)`` dates.
        benchmark: the benchmark's name (``none`` when there is none).
        purge: rows dropped at the start of each validation window.
        holdout_start: first date of the sealed holdout (never evaluated here).
    """

    train: Segment
    validation: Segment
    folds: tuple[Segment, ...]
    fold_train: tuple[tuple[dt.date, dt.date], ...]
    benchmark: str
    purge: int
    holdout_start: dt.date

    def fold_summaries(self) -> list[dict[str, Any]]:
        """Per fold: its windows and its main validation figures (what the record keeps).

        The keys are ``_FOLD_KEYS`` of the fold's :meth:`Segment.summary`, plus
        ``benchmark_sharpe`` and the factor's ``ic`` and ``rank_ic``: enough to
        see whether one fold carries the aggregate, at a fraction of the size.
        """
        out = []
        for number, (fold, window) in enumerate(
            zip(self.folds, self.fold_train, strict=True), start=1
        ):
            summary = fold.summary()
            out.append(
                {
                    "fold": number,
                    "train_start": window[0].isoformat(),
                    "train_end": window[1].isoformat(),
                    **{key: summary[key] for key in _FOLD_KEYS if key in summary},
                    "benchmark_sharpe": None if fold.benchmark is None else fold.benchmark.sharpe,
                    "ic": fold.factor.ic,
                    "rank_ic": fold.factor.rank_ic,
                }
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe mapping: the train and validation summaries, the folds and the protocol."""
        return {
            "train": self.train.summary(),
            "validation": self.validation.summary(),
            "folds": self.fold_summaries(),
            "benchmark": self.benchmark,
            "purge_days": self.purge,
            "holdout_start": self.holdout_start.isoformat(),
        }


@dataclass(frozen=True, slots=True, eq=False)
class _Daily:
    """Sliceable daily series of one simulation (strategy or benchmark)."""

    returns: Series
    turnover: Series
    invested: npt.NDArray[np.bool_]
    trades: npt.NDArray[np.intp]

    @classmethod
    def of(cls, result: BacktestResult) -> _Daily:
        return cls(result.returns, result.turnover, result.invested, result.trades)

    @classmethod
    def held(cls, returns: Series) -> _Daily:
        """A buy-and-hold price series: invested from its second day, never trading."""
        invested = np.ones(len(returns), dtype=np.bool_)
        invested[:1] = False
        return cls(returns, np.zeros(len(returns)), invested, np.zeros(len(returns), np.intp))

    def window(self, start: int, stop: int) -> _Daily:
        return _Daily(
            self.returns[start:stop],
            self.turnover[start:stop],
            self.invested[start:stop],
            self.trades[start:stop],
        )

    @classmethod
    def concat(cls, parts: Sequence[_Daily]) -> _Daily:
        return cls(
            np.concatenate([p.returns for p in parts]),
            np.concatenate([p.turnover for p in parts]),
            np.concatenate([p.invested for p in parts]),
            np.concatenate([p.trades for p in parts]),
        )

    def metrics(self, config: BacktestConfig, n_trials: int) -> Metrics:
        return compute_metrics(
            self.returns,
            turnover=self.turnover,
            invested=self.invested,
            n_trades=int(self.trades.sum()),
            annualization=config.annualization,
            n_trials=n_trials,
        )


@dataclass(frozen=True, slots=True)
class Decay:
    """Mean IC and RankIC of a signal per forward-return horizon, over the selection region."""

    horizons: tuple[int, ...]
    ic: tuple[float, ...]
    rank_ic: tuple[float, ...]

    def as_dict(self) -> dict[str, list[float] | list[int]]:
        """Plain JSON-safe mapping."""
        return {"horizons": list(self.horizons), "ic": list(self.ic), "rank_ic": list(self.rank_ic)}


class Study:
    """A panel prepared for the protocol: the holdout start, the selection view, the benchmark.

    Prepare one per panel and configuration and reuse it: the selection view
    is what an ``EvalCache`` keys on, and equal-weight benchmark runs are kept.

    Args:
        panel: the full price panel.
        config: the backtest configuration.

    Raises:
        BacktestError: the split is outside the data, or the benchmark cannot be resolved.
    """

    def __init__(self, panel: Panel, config: BacktestConfig) -> None:
        self.panel = panel
        self.config = config
        self.split = split_index(panel, config)
        self.selection = panel.slice_rows(0, self.split)
        self.benchmark: Benchmark | None = resolve_benchmark(panel, config.benchmark)
        self._runs: OrderedDict[tuple[int, int, int, int], _Daily] = OrderedDict()

    @property
    def holdout_start(self) -> dt.date:
        """The first date of the sealed holdout."""
        return _date(self.panel.dates[self.split])

    def layout(self, strategy: Strategy, start: int) -> Layout:
        """The protocol's rows for ``strategy`` whose signal starts at row ``start``."""
        lookback = parse(strategy.expression, limits=EVALUATION_LIMITS).lookback
        return fold_layout(start, self.split, len(self.panel.dates), self.config, lookback)

    def evaluate(
        self, strategy: Strategy, *, n_trials: int = 1, cache: EvalCache | None = None
    ) -> Evaluation:
        """The strategy on the train block and the validation folds; the holdout is not read.

        Args:
            strategy: the candidate.
            n_trials: candidates tried so far in the run, for the metrics' deflated Sharpe.
            cache: a ``stratloop.factors.EvalCache`` shared between candidates, if any.

        Raises:
            ExpressionError: the expression does not parse or type-check.
            BacktestError: the signal never has a value, or the folds do not fit.
        """
        signal = evaluate(strategy.expression, self.selection, cache=cache)
        return self.evaluate_signal(signal, strategy, n_trials=n_trials)

    def evaluate_signal(
        self, signal: FloatPanel, strategy: Strategy, *, n_trials: int = 1
    ) -> Evaluation:
        """:meth:`evaluate` of an already evaluated signal on the selection rows."""
        panel, config = self.selection, self.config
        start = _first_usable(signal, panel, strategy)
        layout = self.layout(strategy, start)
        result = self._backtest(signal, panel, strategy, start, n_trials=n_trials)
        daily = _Daily.of(result)
        bench = self._benchmark(strategy, start, self.split)
        windows_all = [layout.train, *(f.validation for f in layout.folds)]
        factors = _FactorDays.measure(
            signal, panel.close, start, windows_all, strategy.portfolio.rebalance_days
        )

        def segment(name: str, windows: Sequence[tuple[int, int]]) -> Segment:
            rel = [(a - start, b - start) for a, b in windows]
            bench_daily = None if bench is None else _Daily.concat([bench.window(*w) for w in rel])
            return _segment(
                name,
                np.concatenate([panel.dates[a:b] for a, b in windows]),
                _Daily.concat([daily.window(*w) for w in rel]),
                bench_daily,
                factors.summary(windows),
                config,
                n_trials,
            )

        folds = tuple(segment(f"fold {f.number}", [f.validation]) for f in layout.folds)
        dates = self.panel.dates
        return Evaluation(
            train=segment("train", [layout.train]),
            validation=segment("validation", [f.validation for f in layout.folds]),
            folds=folds,
            fold_train=tuple(
                (_date(dates[f.train[0]]), _date(dates[f.train[1] - 1])) for f in layout.folds
            ),
            benchmark=config.benchmark,
            purge=layout.purge,
            holdout_start=self.holdout_start,
        )

    def _backtest(
        self, signal: FloatPanel, panel: Panel, strategy: Strategy, start: int, *, n_trials: int = 1
    ) -> BacktestResult:
        """``strategy`` on ``panel`` from row ``start``, at the study's costs and annualisation."""
        config = self.config
        return run_backtest(
            signal,
            panel,
            strategy,
            cost_bps=config.cost_bps,
            start=start,
            annualization=config.annualization,
            n_trials=n_trials,
        )

    def selection_excess(
        self, strategy: Strategy, *, cache: EvalCache | None = None
    ) -> tuple[int, Series]:
        """The daily excess returns over the whole selection region, from the signal's start.

        Returns:
            ``(start row, returns)``: the strategy's returns minus the
            benchmark's over rows ``start:split`` (the strategy's own without a benchmark).
        """
        signal = evaluate(strategy.expression, self.selection, cache=cache)
        start = _first_usable(signal, self.selection, strategy)
        result = self._backtest(signal, self.selection, strategy, start)
        bench = self._benchmark(strategy, start, self.split)
        return start, result.returns if bench is None else result.returns - bench.returns

    def decay(self, strategy: Strategy, *, cache: EvalCache | None = None) -> Decay:
        """The IC decay over horizons 1..20, every selection day measured (too slow per candidate).

        Forward returns stop at the holdout: no holdout price is read.
        """
        signal = evaluate(strategy.expression, self.selection, cache=cache)
        start = _first_usable(signal, self.selection, strategy)
        horizons = tuple(h for h in DEFAULT_DECAY_HORIZONS if h < self.split - start)
        analysis = analyze_factor(
            signal[start:],
            self.selection.close[start:],
            horizon=horizons[0],
            decay_horizons=horizons,
        )
        ic = tuple(map(float, analysis.ic_decay))
        return Decay(horizons, ic, tuple(map(float, analysis.rank_ic_decay)))

    def holdout(self, strategy: Strategy, *, cache: EvalCache | None = None) -> Segment:
        """The strategy on the sealed holdout: a fresh portfolio from the holdout's first day.

        Raises:
            ExpressionError: the expression does not parse or type-check.
            BacktestError: the benchmark has no price on a holdout day.
        """
        signal = evaluate(strategy.expression, self.panel, cache=cache)
        start, stop = self.split, len(self.panel.dates)
        config = self.config
        result = self._backtest(signal, self.panel, strategy, start)
        bench = self._benchmark(strategy, start, stop, panel=self.panel)
        horizon = strategy.portfolio.rebalance_days
        factors = _FactorDays.measure(signal, self.panel.close, start, [(start, stop)], horizon)
        return _segment(
            "holdout",
            self.panel.dates[start:stop],
            _Daily.of(result),
            bench,
            factors.summary([(start, stop)]),
            config,
            1,
        )

    def _benchmark(
        self, strategy: Strategy, start: int, stop: int, *, panel: Panel | None = None
    ) -> _Daily | None:
        """The benchmark's daily series over rows ``start:stop`` (kept for equal weight)."""
        bench = self.benchmark
        if bench is None:
            return None
        if bench.prices is not None:
            return _Daily.held(bench.price_returns(start, stop))
        days = strategy.portfolio.rebalance_days
        data = self.selection if panel is None else panel
        key = (days, start, stop, len(data.dates))
        found = self._runs.get(key)
        if found is not None:
            self._runs.move_to_end(key)
            return found
        config = self.config
        run = _Daily.of(
            equal_weight_benchmark(
                data,
                days,
                cost_bps=config.cost_bps,
                start=start,
                stop=stop,
                annualization=config.annualization,
            )
        )
        self._runs[key] = run
        if len(self._runs) > _BENCHMARK_CACHE:
            self._runs.popitem(last=False)
        return run


def evaluate_strategy(
    strategy: Strategy,
    panel: Panel,
    config: BacktestConfig,
    *,
    n_trials: int = 1,
    cache: EvalCache | None = None,
) -> Evaluation:
    """:meth:`Study.evaluate` on a fresh :class:`Study` (reuse a Study to reuse a cache).

    Raises:
        ExpressionError: the expression does not parse or type-check.
        BacktestError: the split is outside the data, the signal never has a value,
            the folds do not fit, or the benchmark cannot be resolved.
    """
    return Study(panel, config).evaluate(strategy, n_trials=n_trials, cache=cache)


@dataclass(frozen=True, slots=True, eq=False)
class StrategyBacktest:
    """One strategy under the protocol, with every segment's daily returns.

    Args:
        strategy: the strategy backtested.
        evaluation: train, validation and folds (what the loop records).
        holdout: the holdout segment, when it was asked for; else None (sealed).
    """

    strategy: Strategy
    evaluation: Evaluation
    holdout: Segment | None

    @property
    def train(self) -> Segment:
        """The train block."""
        return self.evaluation.train

    @property
    def validation(self) -> Segment:
        """The validation folds, concatenated."""
        return self.evaluation.validation


def backtest_strategy(
    strategy: Strategy | str,
    panel: Panel | None = None,
    config: BacktestConfig | None = None,
    *,
    holdout: bool = False,
    n_trials: int = 1,
    cache: EvalCache | None = None,
) -> StrategyBacktest:
    """Backtest a strategy (or an expression, traded top-5) under the protocol, keeping returns.

    Args:
        strategy: a strategy spec, or an expression text held top-5, rebalanced every 21 days.
        panel: the price panel (default: the embedded ``sp500-20`` dataset).
        config: costs, split, folds and benchmark (default: the configuration's defaults).
        holdout: also open the sealed holdout. Looking at it while choosing
            strategies by hand spends it: keep it for the strategy you settled on.
        n_trials: candidates tried so far, for the metrics' deflated Sharpe.
        cache: a ``stratloop.factors.EvalCache`` shared between calls, if any.

    Raises:
        ExpressionError: the expression does not parse or type-check.
        BacktestError: the split is outside the data, the signal never has a value,
            the folds do not fit, or the benchmark cannot be resolved.
    """
    if isinstance(strategy, str):
        strategy = Strategy(expression=strategy, portfolio=_DEFAULT_PORTFOLIO)
    study = Study(load_dataset() if panel is None else panel, config or BacktestConfig())
    evaluation = study.evaluate(strategy, n_trials=n_trials, cache=cache)
    return StrategyBacktest(
        strategy, evaluation, study.holdout(strategy, cache=cache) if holdout else None
    )


def _first_usable(signal: FloatPanel, panel: Panel, strategy: Strategy) -> int:
    """The first row where some asset has both a signal and a price."""
    with np.errstate(invalid="ignore"):
        priced = np.isfinite(signal) & np.isfinite(panel.close)
    usable: npt.NDArray[np.bool_] = np.any(priced, axis=1)
    if not usable[:-1].any():
        lookback = parse(strategy.expression).lookback
        cause = (
            f"the expression needs {lookback} rows of history and the selection region has "
            f"{len(panel.dates)} (use shorter windows or an earlier start date)"
            if lookback >= len(panel.dates) - 1
            else f"its {lookback}-row lookback fits in the {len(panel.dates)} selection rows, "
            "so its values are undefined, not late: an operator's domain (a logarithm or "
            "power of a non-positive value, a division by zero) or inputs without values "
            "(rewrite the expression, e.g. guard the operand)"
        )
        raise BacktestError(
            f"the signal of {strategy.expression!r} has no value for any priced asset before "
            f"the holdout ({panel.dates[-1]} is the last selection date): {cause}"
        )
    return int(np.argmax(usable))


def _segment(
    name: str,
    dates: npt.NDArray[np.datetime64],
    daily: _Daily,
    bench: _Daily | None,
    factor: FactorSummary,
    config: BacktestConfig,
    n_trials: int,
) -> Segment:
    return Segment(
        name=name,
        dates=dates,
        returns=daily.returns,
        metrics=daily.metrics(config, n_trials),
        benchmark_returns=None if bench is None else bench.returns,
        benchmark=None if bench is None else bench.metrics(config, 1),
        excess=None
        if bench is None
        else excess_metrics(daily.returns, bench.returns, annualization=config.annualization),
        factor=factor,
    )


@dataclass(frozen=True, slots=True, eq=False)
class _FactorDays:
    """The factor's daily figures on the rebalance days of a region, for summaries by window.

    Measured once per candidate: the rows are ``start, start + h, ...`` (the
    portfolio's rebalance days); the forward return of a row is NaN when it
    would end at or past the end of the window holding the row, so that no
    figure of a window reads a price after it. Turnover and autocorrelation
    compare a row with the previous measured row (lag h), which reads signals only.
    """

    horizon: int
    rows: npt.NDArray[np.intp]
    ic: Series
    rank_ic: Series
    spread: Series
    turnover: Series
    autocorrelation: Series

    @classmethod
    def measure(
        cls,
        signal: FloatPanel,
        close: FloatPanel,
        start: int,
        windows: Sequence[tuple[int, int]],
        horizon: int,
    ) -> _FactorDays:
        stop = max(b for _, b in windows)
        rows = np.arange(start, stop, horizon)
        ends = np.zeros(len(rows), dtype=np.intp)
        for a, b in windows:
            ends[(rows >= a) & (rows < b)] = b
        inside = rows + horizon < ends
        forward = np.full((len(rows), signal.shape[1]), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            forward[inside] = close[rows[inside] + horizon] / close[rows[inside]] - 1.0
        daily = daily_factor(signal[rows], forward, N_QUANTILES)
        return cls(
            horizon=horizon,
            rows=rows,
            ic=daily.ic,
            rank_ic=daily.rank_ic,
            spread=daily.spread,
            turnover=daily.turnover,
            autocorrelation=daily.autocorrelation,
        )

    def summary(self, windows: Sequence[tuple[int, int]]) -> FactorSummary:
        """The figures of the measured rows inside ``windows``."""
        keep = np.zeros(len(self.rows), dtype=np.bool_)
        for a, b in windows:
            keep |= (self.rows >= a) & (self.rows < b)
        ic, rank_ic = summarize_ic(self.ic[keep]), summarize_ic(self.rank_ic[keep])
        return FactorSummary(
            horizon=self.horizon,
            ic=ic.mean,
            icir=ic.icir,
            ic_t_stat=ic.t_stat,
            rank_ic=rank_ic.mean,
            rank_icir=rank_ic.icir,
            rank_ic_t_stat=rank_ic.t_stat,
            days=ic.n_days,
            long_short=_mean(self.spread[keep]),
            turnover=_mean(self.turnover[keep]),
            autocorrelation=_mean(self.autocorrelation[keep]),
        )


def _mean(values: Series) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else 0.0


def _date(value: np.datetime64) -> dt.date:
    day: dt.date = value.astype("datetime64[D]").item()
    return day
