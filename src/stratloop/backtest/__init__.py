"""The vectorised backtest: portfolio rules, engine, metrics, deflated Sharpe, train/test split.

>>> import numpy as np
>>> from stratloop.data import synthetic_panel
>>> from stratloop.spec import TopN
>>> panel = synthetic_panel(10, 60, seed=1, listing_gaps=False)
>>> result = run_backtest(panel.close.copy(), panel, TopN(n=3), cost_bps=10.0)
>>> result.returns.shape, result.weights().shape
((60,), (60, 10))
"""

from stratloop.backtest.deflated import deflated_sharpe, expected_max_sharpe, probabilistic_sharpe
from stratloop.backtest.engine import BacktestResult, run_backtest
from stratloop.backtest.evaluate import (
    Evaluation,
    StrategyBacktest,
    backtest_strategy,
    evaluate_signal,
    evaluate_strategy,
)
from stratloop.backtest.metrics import METRIC_NAMES, Metrics, compute_metrics
from stratloop.backtest.portfolio import target_weights
from stratloop.backtest.specfile import SPEC_SUFFIXES, dump_strategy, load_strategy
from stratloop.backtest.split import MIN_SEGMENT_DAYS, split_index

__all__ = [
    "METRIC_NAMES",
    "MIN_SEGMENT_DAYS",
    "SPEC_SUFFIXES",
    "BacktestResult",
    "Evaluation",
    "Metrics",
    "StrategyBacktest",
    "backtest_strategy",
    "compute_metrics",
    "deflated_sharpe",
    "dump_strategy",
    "evaluate_signal",
    "evaluate_strategy",
    "expected_max_sharpe",
    "load_strategy",
    "probabilistic_sharpe",
    "run_backtest",
    "split_index",
    "target_weights",
]
