"""The real evaluator the worker processes run: the backtest on the configured panel.

:func:`backtest_evaluator` is the :data:`~stratloop.loop.workers.EvaluatorFactory`
``stratloop run`` uses; each worker calls it once, so the panel is loaded once
per worker and the factor-evaluation cache is shared by that worker's candidates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratloop.config.models import StratloopConfig
from stratloop.data.panel import Panel
from stratloop.loop.workers import Evaluator, Scores
from stratloop.spec import Strategy

if TYPE_CHECKING:
    from stratloop.factors.cache import EvalCache

__all__ = ["backtest_evaluator", "evaluation_cache", "load_run_panel"]

_MIB = 1024 * 1024


def load_run_panel(config: StratloopConfig) -> Panel:
    """The panel ``config.data`` names (a packaged dataset or a file)."""
    from stratloop.data import load_panel  # noqa: PLC0415 - pandas only where data is loaded

    data = config.data
    return load_panel(
        data.source, layout=data.layout, start_date=data.start_date, end_date=data.end_date
    )


def evaluation_cache(config: StratloopConfig) -> EvalCache:
    """A worker's cache of evaluated subexpressions, bounded by ``loop.eval_cache_mb``."""
    from stratloop.factors.cache import EvalCache  # noqa: PLC0415 - loaded in the worker

    return EvalCache(config.loop.eval_cache_mb * _MIB)


def backtest_evaluator(config: StratloopConfig) -> Evaluator:
    """Load the panel once and return ``(strategy, n_trials) -> (train, test, fingerprint)``.

    Args:
        config: the run's configuration (``data``, ``backtest``, ``loop.eval_cache_mb``
            and ``generation.max_window``, the fingerprint's warm-up).
    """
    from stratloop.backtest.evaluate import evaluate_signal  # noqa: PLC0415 - in the worker
    from stratloop.backtest.split import split_index  # noqa: PLC0415
    from stratloop.factors import evaluate as signal_of  # noqa: PLC0415
    from stratloop.factors.fingerprint import FingerprintSample  # noqa: PLC0415

    panel = load_run_panel(config)
    cache = evaluation_cache(config)
    backtest = config.backtest
    sample = FingerprintSample.of(
        len(panel.assets), split_index(panel, backtest), warm_up=config.generation.max_window
    )

    def evaluate(strategy: Strategy, n_trials: int) -> Scores:
        signal = signal_of(strategy.expression, panel, cache=cache)
        result = evaluate_signal(signal, strategy, panel, backtest, n_trials=n_trials)
        return result.train.as_dict(), result.test.as_dict(), sample.take(signal)

    return evaluate
