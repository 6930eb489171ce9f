"""``evaluate_strategy``: one candidate's train and test metrics.

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
from stratloop.backtest.engine import run_backtest
from stratloop.backtest.metrics import Metrics
from stratloop.backtest.split import split_index
from stratloop.config.models import BacktestConfig
from stratloop.data.panel import Panel
from stratloop.errors import BacktestError
from stratloop.factors import EvalCache, evaluate
from stratloop.spec import Strategy

__all__ = ["Evaluation", "evaluate_signal", "evaluate_strategy"]


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
    return Evaluation(
        train=train.metrics,
        test=test.metrics,
        train_start=_date(panel, train_start),
        split_date=_date(panel, split),
        end_date=_date(panel, len(panel.dates) - 1),
    )


def _date(panel: Panel, row: int) -> dt.date:
    value: dt.date = panel.dates[row].astype("datetime64[D]").item()
    return value
