"""Typed examples of the public API, checked by ``mypy --strict`` (``make check``).

If a public signature changes in a way that breaks callers, this file stops
type-checking; tests/typing/test_api_examples.py runs the examples so they also
stay true.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

import stratloop
from stratloop.backtest import Evaluation, Metrics, evaluate_strategy, run_backtest
from stratloop.config import StratloopConfig, config_hash, default_config, load_config, snapshot
from stratloop.data import load_dataset, synthetic_panel
from stratloop.errors import ConfigValidationError, StratloopError
from stratloop.factors import (
    EvalCache,
    Expr,
    FactorGraphGenerator,
    Limits,
    available_fields,
    check_strategy,
    default_library,
    evaluate,
    parse,
)
from stratloop.flags import EnvFlagSource, Flags
from stratloop.generation import (
    GenerationContext,
    GenerationOutcome,
    decide,
    generate_iteration,
)
from stratloop.spec import Strategy, TopN


def configuration(path: Path | None) -> StratloopConfig:
    """Load a configuration; every rejection lists field path, value and what is allowed."""
    try:
        return load_config(path, environ={}, flags=Flags())
    except ConfigValidationError as exc:
        for issue in exc.issues:
            print(issue.field_path, issue.value, issue.allowed)  # noqa: T201
        raise


def one_backtest() -> tuple[Metrics, Metrics]:
    """Backtest one strategy on the embedded data: train block and validation folds."""
    config = default_config()
    panel = load_dataset("sp500-20")
    limits = Limits.from_config(config.generation)
    strategy = check_strategy(
        Strategy(expression="rank(ts_mean(returns, 20))", portfolio=TopN(n=5)),
        fields=available_fields(frozenset(panel.fields)),
        limits=limits,
    )
    evaluation: Evaluation = evaluate_strategy(strategy, panel, config.backtest, n_trials=1)
    return evaluation.train.metrics, evaluation.validation.metrics


def signal_then_backtest() -> float:
    """Evaluate an expression with a cache, then backtest its signal."""
    panel = synthetic_panel(50, 600, seed=1)
    expr: Expr = parse("rank(ts_mean(returns, 20)) - rank(ts_std(returns, 60))")
    signal = evaluate(expr, panel, cache=EvalCache(max_bytes=64 * 1024 * 1024))
    result = run_backtest(signal, panel, TopN(n=10), cost_bps=10.0)
    return result.metrics.sharpe


def one_generation() -> GenerationOutcome:
    """Decide and generate one iteration with the flags in force."""
    config = default_config()
    panel = synthetic_panel(20, 400, seed=2)
    generator = FactorGraphGenerator(
        default_library(),
        limits=Limits.from_config(config.generation),
        fields=available_fields(frozenset(panel.fields)),
        max_attempts=config.generation.max_mutation_attempts,
    )
    flags: Flags = EnvFlagSource({}).current()
    ctx = GenerationContext.create(config, iteration=0)
    return generate_iteration(ctx, flags, llm=None, factor_graph=generator)


def recheck(outcome: GenerationOutcome, config: StratloopConfig) -> bool:
    """Recompute a decision from the configuration and the recorded draw."""
    again = decide(
        config.generation.use_factor_graph,
        config.generation.innovation_rate,
        outcome.decision.draw,
    )
    return again.method == outcome.decision.method


def fingerprint(config: StratloopConfig) -> str:
    """The redacted snapshot's hash: what an audit record carries."""
    return config_hash(snapshot(config))


def draws(seed: int) -> list[float]:
    """Each iteration's first draw, the one the decision consumes."""
    return [GenerationContext.create(default_config(), i, seed=seed).rng.random() for i in range(3)]


def safe(text: str) -> Expr | None:
    """Parse untrusted text; only typed errors come out."""
    try:
        return parse(text)
    except StratloopError:
        return None


def researcher_backtest(expression: str) -> tuple[float, npt.NDArray[np.float64]]:
    """The top-level call: an expression on the embedded data, holdout Sharpe and daily returns."""
    result: stratloop.StrategyBacktest = stratloop.backtest_strategy(expression, holdout=True)
    assert result.holdout is not None
    return result.holdout.metrics.sharpe, result.holdout.returns


def researcher_spec_backtest(panel: stratloop.Panel) -> stratloop.Metrics:
    """A full spec on the researcher's own panel with the run configuration's costs and split."""
    config = stratloop.load_config(None, environ={}, overrides={"backtest.cost_bps": 5.0})
    spec = stratloop.Strategy(
        expression="rank(ts_mean(returns, 20))", portfolio=stratloop.LongShort(quantile=0.2)
    )
    return stratloop.backtest_strategy(spec, panel, config.backtest).train.metrics


def researcher_run(
    runs_dir: Path, trail: Path, flags: Mapping[str, str]
) -> tuple[str, list[stratloop.IterationRecord]]:
    """Run four iterations, then read the run back: its status and every iteration, typed."""
    config = stratloop.load_config(
        None,
        environ=flags,
        overrides={"loop.iterations": 4, "loop.runs_dir": str(runs_dir), "audit.path": str(trail)},
    )
    summary: stratloop.RunSummary = stratloop.run(config, flags=EnvFlagSource(flags))
    info: stratloop.RunInfo = stratloop.describe_run(runs_dir, summary.run_id)
    records = stratloop.read_history(summary.path / "history.jsonl").records
    return info.status, list(records)


def researcher_verify(trail: Path) -> bool:
    """Verify an audit trail: the hash chain, the schema and every recorded decision."""
    report: stratloop.VerifyReport = stratloop.verify_trail(trail)
    return report.ok
