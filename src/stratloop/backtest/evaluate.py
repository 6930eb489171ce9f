"""One candidate on the train / test split: its metrics, and for a researcher its returns.

The loop's workers call :func:`evaluate_strategy` and send back metrics only;
a researcher calls :func:`backtest_strategy` for the same split with each
segment's daily returns as well.

The signal is evaluated once on the full panel (row t uses rows <= t, so the
test segment may use train history but train never sees test data). Train
starts at the first row where some asset has both a signal and a price (the
expression's warm-up is not counted as flat days); test starts at the split.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from stratloop._types import FloatPanel
from stratloop.backtest.engine import BacktestResult, run_backtest
from stratloop.backtest.metrics import Metrics
from stratloop.backtest.split import split_index
from stratloop.config.models import BacktestConfig
from stratloop.data.embedded import load_dataset
from stratloop.data.panel import Panel
from stratloop.errors import BacktestError
from stratloop.factors import EvalCache, evaluate
from stratloop.spec import Strategy, TopN

__all__ = [
    "Evaluation",
    "StrategyBacktest",
    "backtest_strategy",
    "evaluate_signal",
    "evaluate_strategy",
]

_DEFAULT_PORTFOLIO = TopN(n=5)
"""The portfolio an expression given alone is traded with (as ``stratloop backtest``)."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Train and test metrics of one strategy.

    Args:
        train: metrics on ``[train_start, split_date)``.
        test: metrics on ``[split_date, end]``.
        train_start: first date of the train segment (after the signal's warm-up).
        split_date: first date of the test segment.
        end_date: last date of the panel.
    """

    train: Metrics
    test: Metrics
    train_start: dt.date
    split_date: dt.date
    end_date: dt.date

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe mapping (dates as ISO text, NaN as null)."""
        return {
            "train": self.train.as_dict(),
            "test": self.test.as_dict(),
            "train_start": self.train_start.isoformat(),
            "split_date": self.split_date.isoformat(),
            "end_date": self.end_date.isoformat(),
        }


def evaluate_strategy(
    strategy: Strategy,
    panel: Panel,
    config: BacktestConfig,
    *,
    n_trials: int = 1,
    cache: EvalCache | None = None,
) -> Evaluation:
    """Evaluate the strategy's expression on the panel, then backtest train and test.

    Args:
        strategy: the candidate.
        panel: the price panel.
        config: costs, split and annualisation.
        n_trials: candidates tried so far in the run, for the deflated Sharpe.
        cache: a ``stratloop.factors.EvalCache`` shared between candidates, if any.

    Raises:
        ExpressionError: the expression does not parse or type-check.
        BacktestError: the split is outside the data or the signal never has a value in train.
    """
    signal = evaluate(strategy.expression, panel, cache=cache)
    return evaluate_signal(signal, strategy, panel, config, n_trials=n_trials)


def evaluate_signal(
    signal: FloatPanel,
    strategy: Strategy,
    panel: Panel,
    config: BacktestConfig,
    *,
    n_trials: int = 1,
) -> Evaluation:
    """Backtest an already evaluated signal on the train and test segments.

    Args:
        signal: the strategy's signal panel, aligned with ``panel``.
        strategy: the candidate (its portfolio rule and exits).
        panel: the price panel.
        config: costs, split and annualisation.
        n_trials: candidates tried so far in the run, for the deflated Sharpe.
    """
    train, test = _segments(signal, strategy, panel, config, n_trials=n_trials)
    return _evaluation(panel, train, test)


@dataclass(frozen=True, slots=True, eq=False)
class StrategyBacktest:
    """One strategy backtested on the train / test split: metrics and daily returns.

    Args:
        strategy: the strategy backtested.
        evaluation: train and test metrics and the split's dates (what the loop records).
        train: the train segment: ``dates``, daily ``returns``, ``metrics``.
        test: the test segment, likewise.
    """

    strategy: Strategy
    evaluation: Evaluation
    train: BacktestResult
    test: BacktestResult


def backtest_strategy(
    strategy: Strategy | str,
    panel: Panel | None = None,
    config: BacktestConfig | None = None,
    *,
    n_trials: int = 1,
    cache: EvalCache | None = None,
) -> StrategyBacktest:
    """Backtest a strategy (or an expression, traded top-5) on train and test, keeping returns.

    Args:
        strategy: a strategy spec, or an expression text held top-5, rebalanced every 21 days.
        panel: the price panel (default: the embedded ``sp500-20`` dataset).
        config: costs, split and annualisation (default: the configuration's defaults).
        n_trials: candidates tried so far, for the deflated Sharpe.
        cache: a ``stratloop.factors.EvalCache`` shared between calls, if any.

    Raises:
        ExpressionError: the expression does not parse or type-check.
        BacktestError: the split is outside the data or the signal never has a value in train.
    """
    if isinstance(strategy, str):
        strategy = Strategy(expression=strategy, portfolio=_DEFAULT_PORTFOLIO)
    panel = load_dataset() if panel is None else panel
    config = BacktestConfig() if config is None else config
    signal = evaluate(strategy.expression, panel, cache=cache)
    train, test = _segments(signal, strategy, panel, config, n_trials=n_trials)
    return StrategyBacktest(strategy, _evaluation(panel, train, test), train, test)


def _segments(
    signal: FloatPanel, strategy: Strategy, panel: Panel, config: BacktestConfig, *, n_trials: int
) -> tuple[BacktestResult, BacktestResult]:
    """The train backtest (from the signal's warm-up to the split) and the test backtest."""
    split = split_index(panel, config)
    with np.errstate(invalid="ignore"):
        priced = np.isfinite(signal[:split]) & np.isfinite(panel.close[:split])
    usable: npt.NDArray[np.bool_] = np.any(priced, axis=1)
    if not usable[: split - 1].any():
        raise BacktestError(
            f"the signal of {strategy.expression!r} has no value for any priced asset before the "
            f"last train date {panel.dates[split - 1]}; the expression needs more history than "
            "the train segment has (use shorter windows or an earlier start date)"
        )
    train_start = int(np.argmax(usable))
    common: dict[str, Any] = {
        "cost_bps": config.cost_bps,
        "annualization": config.annualization,
        "n_trials": n_trials,
    }
    train = run_backtest(signal, panel, strategy, start=train_start, stop=split, **common)
    test = run_backtest(signal, panel, strategy, start=split, **common)
    return train, test


def _evaluation(panel: Panel, train: BacktestResult, test: BacktestResult) -> Evaluation:
    return Evaluation(
        train=train.metrics,
        test=test.metrics,
        train_start=_date(train.dates[0]),
        split_date=_date(test.dates[0]),
        end_date=_date(panel.dates[-1]),
    )


def _date(value: np.datetime64) -> dt.date:
    day: dt.date = value.astype("datetime64[D]").item()
    return day
