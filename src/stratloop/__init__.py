"""stratloop: an autonomous learning loop that discovers trading strategies.

The configuration you wrote is exactly what runs, every decision is on record,
and every change can be rolled out and rolled back behind feature flags.

The researcher's API, one call per task:

- data: :func:`load_dataset` (the embedded data), :func:`load_panel` (a
  dataset name or your CSV / Parquet file);
- expressions: :func:`parse`, :func:`evaluate` (an expression on a panel);
- one strategy: :func:`backtest_strategy` (train block, validation folds and, when
  asked, the holdout: each segment's metrics and daily returns beside the benchmark's);
- the loop: :func:`load_config`, :func:`run`;
- a finished run: :func:`describe_run` (status, champion), :func:`read_history`
  (every iteration as an :class:`IterationRecord`), :func:`verify_trail`.

>>> import stratloop
>>> result = stratloop.backtest_strategy("rank(ts_mean(returns, 20))")
>>> len(result.validation.returns) == len(result.validation.benchmark_returns) > 0
True
"""

from __future__ import annotations

from stratloop._lazy import lazy_members as _lazy_members

TYPE_CHECKING = False
"""Spelled out instead of imported: ``typing`` alone would triple this module's import time."""

if TYPE_CHECKING:
    from stratloop.audit.verify import VerifyReport, verify_trail
    from stratloop.backtest.evaluate import StrategyBacktest, backtest_strategy
    from stratloop.backtest.metrics import Metrics
    from stratloop.config.loader import load_config
    from stratloop.config.models import StratloopConfig
    from stratloop.data.embedded import load_dataset
    from stratloop.data.loader import load_panel
    from stratloop.data.panel import Panel
    from stratloop.factors.evaluate import evaluate
    from stratloop.factors.grammar import parse
    from stratloop.flags.sources import FlagSource
    from stratloop.iteration import IterationRecord
    from stratloop.loop.history import read_history
    from stratloop.loop.inspect import RunInfo, describe_run
    from stratloop.loop.runner import RunSummary
    from stratloop.spec import LongShort, Strategy, TopN

__version__ = "0.1.0"

__all__ = [
    "IterationRecord",
    "LongShort",
    "Metrics",
    "Panel",
    "RunInfo",
    "RunSummary",
    "Strategy",
    "StrategyBacktest",
    "StratloopConfig",
    "TopN",
    "VerifyReport",
    "__version__",
    "backtest_strategy",
    "describe_run",
    "evaluate",
    "load_config",
    "load_dataset",
    "load_panel",
    "parse",
    "read_history",
    "run",
    "verify_trail",
]

# Every member loads on first use: ``import stratloop.x`` runs this file first,
# and the loop alone imports numpy, pandas and openai (about a second).
_LAZY = {
    "IterationRecord": "stratloop.iteration",
    "LongShort": "stratloop.spec",
    "Metrics": "stratloop.backtest.metrics",
    "Panel": "stratloop.data.panel",
    "RunInfo": "stratloop.loop.inspect",
    "RunSummary": "stratloop.loop.runner",
    "StratloopConfig": "stratloop.config.models",
    "Strategy": "stratloop.spec",
    "StrategyBacktest": "stratloop.backtest.evaluate",
    "TopN": "stratloop.spec",
    "VerifyReport": "stratloop.audit.verify",
    "backtest_strategy": "stratloop.backtest.evaluate",
    "describe_run": "stratloop.loop.inspect",
    "evaluate": "stratloop.factors.evaluate",
    "load_config": "stratloop.config.loader",
    "load_dataset": "stratloop.data.embedded",
    "load_panel": "stratloop.data.loader",
    "parse": "stratloop.factors.grammar",
    "read_history": "stratloop.loop.history",
    "verify_trail": "stratloop.audit.verify",
}


__getattr__ = _lazy_members(__name__, _LAZY, globals())


def run(config: StratloopConfig | None = None, *, flags: FlagSource | None = None) -> RunSummary:
    """Run the learning loop to the end, as ``stratloop run`` does, and say how it ended.

    Args:
        config: the effective configuration (default: :func:`load_config` of
            no file, with the process environment's overrides).
        flags: where the feature flags are read before every iteration
            (default: the process environment).

    The run directory is ``summary.path`` under ``config.loop.runs_dir``; read
    it back with :func:`describe_run` and :func:`read_history`.
    """
    from stratloop.config.loader import load_config  # noqa: PLC0415 - lazy, see _LAZY
    from stratloop.flags.sources import EnvFlagSource  # noqa: PLC0415 - lazy, see _LAZY
    from stratloop.loop.assemble import parts_factory  # noqa: PLC0415 - lazy, see _LAZY
    from stratloop.loop.rundir import new_run_id  # noqa: PLC0415 - lazy, see _LAZY
    from stratloop.loop.runner import LoopRunner  # noqa: PLC0415 - lazy, see _LAZY

    source = EnvFlagSource() if flags is None else flags
    effective = load_config(None, flags=source.current()) if config is None else config
    run_id = new_run_id()
    make = parts_factory(effective, flags=source, run_id=run_id)
    return LoopRunner.create(effective, make, run_id=run_id).run()
