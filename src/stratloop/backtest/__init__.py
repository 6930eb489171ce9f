"""The vectorised backtest: rules, engine, metrics, benchmark, folds and holdout, deflation.

>>> import numpy as np
>>> from stratloop.data import synthetic_panel
>>> from stratloop.spec import TopN
>>> panel = synthetic_panel(10, 60, seed=1, listing_gaps=False)
>>> result = run_backtest(panel.close.copy(), panel, TopN(n=3), cost_bps=10.0)
>>> result.returns.shape, result.weights().shape
((60,), (60, 10))
"""

from stratloop.backtest.deflated import deflated_sharpe
from stratloop.backtest.engine import BacktestResult, run_backtest
from stratloop.backtest.evaluate import (
    Evaluation,
    Segment,
    StrategyBacktest,
    Study,
    backtest_strategy,
    evaluate_strategy,
)
from stratloop.backtest.metrics import METRIC_NAMES, Metrics
from stratloop.backtest.specfile import SPEC_SUFFIXES, dump_strategy, load_strategy
from stratloop.backtest.split import split_index

__all__ = [
    "METRIC_NAMES",
    "SPEC_SUFFIXES",
    "BacktestResult",
    "Evaluation",
    "Metrics",
    "Segment",
    "StrategyBacktest",
    "Study",
    "backtest_strategy",
    "deflated_sharpe",
    "dump_strategy",
    "evaluate_strategy",
    "load_strategy",
    "run_backtest",
    "split_index",
]
