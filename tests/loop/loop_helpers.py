"""Small, real parts for loop tests: a function-backed generator and evaluators.

Evaluator factories are module-level so worker processes can import them.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stratloop.config.models import StratloopConfig
from stratloop.errors import BacktestError
from stratloop.generation.context import GenerationContext
from stratloop.generation.strategies import FunctionSource
from stratloop.loop.workers import Evaluator
from stratloop.spec import Candidate, Lineage, Strategy, TopN

WINDOWS = (5, 10, 20, 40, 60)


def make_candidate(ctx: GenerationContext, method: str) -> Candidate:
    """A candidate drawn from the context's generator (after the decision's draw)."""
    window = int(ctx.rng.choice(WINDOWS))
    n = int(ctx.rng.integers(2, 8))
    parent = ctx.champion.candidate.candidate_id if ctx.champion else None
    expression = f"rank(ts_mean(returns, {window}))"
    if ctx.champion is not None and ctx.rng.random() < 0.5:
        expression = f"{ctx.champion.candidate.strategy.expression} + ts_std(returns, {window})"
    strategy = Strategy(expression=expression, portfolio=TopN(n=n))
    lineage = Lineage(parents=(parent,) if parent else (), operator="test", params={"w": window})
    return Candidate(strategy=strategy, method=method, lineage=lineage)  # type: ignore[arg-type]


def factor_graph_source() -> FunctionSource:
    return FunctionSource(lambda ctx: make_candidate(ctx, "factor_graph"))


def llm_source() -> FunctionSource:
    return FunctionSource(lambda ctx: make_candidate(ctx, "llm"))


def _metrics(strategy: Strategy, salt: str) -> dict[str, Any]:
    digest = hashlib.sha256((strategy.canonical_json() + salt).encode()).digest()
    unit = int.from_bytes(digest[:8], "big") / 2**64
    return {
        "sharpe": round(unit * 3 - 1, 6),
        "information_ratio": round(unit * 2 - 1, 6),
        "n_trades": 5 + digest[8] % 40,
        "annual_return": unit,
    }


def _hash_evaluate(strategy: Strategy, n_trials: int) -> Mapping[str, Any]:
    text = strategy.expression
    if "sleep" in text:
        time.sleep(3600)
    if "boom" in text:
        raise BacktestError(f"cannot backtest {text!r}")
    if "die" in text:
        os._exit(3)
    if "oom" in text:
        os.kill(os.getpid(), signal.SIGKILL)
    return {
        "train": _metrics(strategy, "train"),
        "validation": _metrics(strategy, "validation"),
        "folds": [_metrics(strategy, "fold 1"), _metrics(strategy, "fold 2")],
    }


def hash_evaluator(config: StratloopConfig) -> Evaluator:
    """Deterministic metrics from the strategy's canonical JSON."""
    return _hash_evaluate


def broken_evaluator(config: StratloopConfig) -> Evaluator:
    """An evaluator whose data cannot be loaded."""
    raise BacktestError("no data for this test")


def loop_config(tmp_path: Any, **loop: Any) -> StratloopConfig:
    """A small factor-graph-only configuration writing runs under ``tmp_path``."""
    generation = loop.pop("generation", {"use_factor_graph": True, "innovation_rate": 0})
    llm = loop.pop("llm", {})
    settings = {"iterations": 12, "batch_size": 4, "runs_dir": str(tmp_path / "runs"), **loop}
    return StratloopConfig.model_validate(
        {"version": 1, "generation": generation, "llm": llm, "loop": settings}
    )


KILL_ONCE_DIR = "STRATLOOP_TEST_KILL_ONCE_DIR"
"""Environment variable naming the directory where :func:`kill_once_evaluator` leaves its mark."""


def _kill_once_evaluate(strategy: Strategy, n_trials: int) -> Mapping[str, Any]:
    marker = Path(os.environ[KILL_ONCE_DIR]) / "killed"
    if n_trials == 3 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return _hash_evaluate(strategy, n_trials)


def kill_once_evaluator(config: StratloopConfig) -> Evaluator:
    """``hash_evaluator``, but the first process to evaluate the third trial is SIGKILLed."""
    return _kill_once_evaluate
