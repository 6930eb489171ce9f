"""The real evaluator the worker processes run: the protocol's selection segments.

:func:`backtest_evaluator` is the :data:`~stratloop.loop.workers.EvaluatorFactory`
``stratloop run`` uses; each worker calls it once, so the panel is loaded once
per worker and the factor-evaluation cache is shared by that worker's candidates.
It returns the train block and the validation folds only: the holdout rows are
never evaluated during a run (``stratloop holdout`` opens them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stratloop._types import FloatPanel
from stratloop.config.models import StratloopConfig
from stratloop.data.panel import Panel
from stratloop.loop.workers import Evaluator
from stratloop.spec import Strategy

if TYPE_CHECKING:
    from stratloop.backtest import Study
    from stratloop.factors.cache import EvalCache
    from stratloop.factors.fingerprint import FingerprintSample

__all__ = ["backtest_evaluator", "evaluation_cache", "fingerprint_sample", "load_run_panel"]

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


def fingerprint_sample(study: Study, config: StratloopConfig) -> FingerprintSample:
    """The train-block cells every signal of the run is fingerprinted on.

    Candidates and the library's factors alike; ``generation.max_window`` rows
    of warm-up are skipped.
    """
    from stratloop.backtest.split import fold_layout  # noqa: PLC0415 - loaded in the worker
    from stratloop.factors.fingerprint import (  # noqa: PLC0415 - loaded in the worker
        FingerprintSample,
    )

    warm_up = config.generation.max_window
    train_stop = fold_layout(
        min(warm_up, study.split // 2), study.split, len(study.panel.dates), config.backtest, 0
    ).train[1]
    return FingerprintSample.of(len(study.selection.assets), train_stop, warm_up=warm_up)


def backtest_evaluator(config: StratloopConfig) -> Evaluator:
    """Load the panel once and return ``(strategy, n_trials) -> {train, validation, folds, ...}``.

    The mapping also holds the signal's ``fingerprint`` on sampled train-block
    rows, so the loop can find near-duplicate signals. The evaluator is a
    :class:`~stratloop.loop.workers.Fingerprinter`: given a task's screen, a
    worker fingerprints the signal first and skips the backtests of a near-duplicate.

    Args:
        config: the run's configuration (``data``, ``backtest``, ``loop.eval_cache_mb``
            and ``generation.max_window``, the fingerprint's warm-up).
    """
    from stratloop.backtest import Study  # noqa: PLC0415 - loaded in the worker
    from stratloop.factors import evaluate as signal_of  # noqa: PLC0415 - loaded in the worker

    study = Study(load_run_panel(config), config.backtest)
    cache = evaluation_cache(config)
    panel = study.selection
    sample = fingerprint_sample(study, config)

    class _Evaluate:
        """The evaluator, and the fingerprint alone for a screen.

        A candidate's signal is evaluated once: the screen's fingerprint keeps
        it for the backtests that follow, which then fingerprint the same
        array. The shared cache does not keep a signal whose top node is an
        infix operator, and on a large panel evicts the others between the
        calls, so asking it again would evaluate the expression again.
        """

        def __init__(self) -> None:
            self.kept: tuple[str, FloatPanel] | None = None

        def signal(self, strategy: Strategy) -> FloatPanel:
            if self.kept is not None and self.kept[0] == strategy.expression:
                return self.kept[1]
            self.kept = None
            signal = signal_of(strategy.expression, panel, cache=cache)
            self.kept = (strategy.expression, signal)
            return signal

        def fingerprint(self, strategy: Strategy) -> str:
            return sample.take(self.signal(strategy))

        def __call__(self, strategy: Strategy, n_trials: int) -> Mapping[str, Any]:
            try:
                signal = self.signal(strategy)
                result = study.evaluate_signal(signal, strategy, n_trials=n_trials)
                fingerprint = sample.take(signal)
            finally:
                self.kept = None
            return {
                "train": result.train.summary(),
                "validation": result.validation.summary(),
                "folds": result.fold_summaries(),
                "fingerprint": fingerprint,
            }

    return _Evaluate()
