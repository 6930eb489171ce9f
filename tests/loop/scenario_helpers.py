"""Scenario parts: synthetic panels written as wide CSV, a real factor-graph run, its trials.

The scenarios run the real loop (factor graph, real worker processes, real
backtests) on a synthetic panel, then open the holdout with ``open_holdout``:
the same verdict ``stratloop holdout`` prints. ``test_scenarios.py`` runs
them small (seconds); ``test_scenarios_full.py`` at the issue's scale.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from run_helpers import AUDIT_OFF
from stratloop.config import load_config
from stratloop.data import Panel
from stratloop.factors.canonical import trial_key
from stratloop.flags import EnvFlagSource
from stratloop.iteration import IterationRecord
from stratloop.loop.assemble import parts_factory
from stratloop.loop.runner import LoopRunner
from stratloop.loop.trials import SENT_STATUSES


def write_log_returns(path: Path, log_returns: np.ndarray) -> Path:
    """Prices from daily log returns (first price 50), as a wide CSV with a Date column."""
    prices = 50.0 * np.exp(np.cumsum(log_returns, axis=0))
    dates = pd.bdate_range("2000-01-03", periods=len(prices))
    frame = pd.DataFrame(prices, columns=[f"S{j:02d}" for j in range(prices.shape[1])])
    frame.insert(0, "Date", dates.strftime("%Y-%m-%d"))
    frame.to_csv(path, index=False)
    return path


def write_panel(path: Path, panel: Panel) -> Path:
    """A panel's closes as a wide CSV with a Date column."""
    frame = pd.DataFrame(panel.close, columns=list(panel.assets))
    frame.insert(0, "Date", pd.DatetimeIndex(panel.dates).strftime("%Y-%m-%d"))
    frame.to_csv(path, index=False)
    return path


def random_walk(path: Path, seed: int, *, n_dates: int, n_assets: int) -> Path:
    """Zero-drift random walks of equal volatility with a common market factor: nothing to find.

    Every asset's log returns are demeaned over the whole panel and all have the
    same variance, so no asset drifts, in log or in arithmetic terms, more than
    another: any edge a strategy shows over equal weight is noise.
    """
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0, 0.01, size=(n_dates, 1))
    returns = 0.8 * market + rng.normal(0.0, 0.015, size=(n_dates, n_assets))
    returns -= returns.mean(axis=0)
    return write_log_returns(path, returns)


def planted_momentum(
    path: Path, seed: int, *, n_dates: int, n_assets: int, edge: float = 0.0015
) -> Path:
    """Each stock has a hidden drift of +-edge per day that persists ~6 months (momentum)."""
    rng = np.random.default_rng(seed)
    regimes = np.repeat(rng.choice([-1.0, 1.0], size=(n_dates // 126 + 1, n_assets)), 126, axis=0)
    drift = edge * regimes[:n_dates]
    market = rng.normal(0.0, 0.01, size=(n_dates, 1))
    returns = drift + 0.8 * market + rng.normal(0.0, 0.015, size=(n_dates, n_assets))
    return write_log_returns(path, returns)


def run_loop(work: Path, data: Path, seed: int, iterations: int) -> str:
    """A completed factor-graph run on ``data`` (one worker, batches of 4); its run id."""
    config = load_config(
        None,
        overrides={
            "generation.use_factor_graph": True,
            "generation.innovation_rate": 0,
            "data.source": str(data),
            "loop.iterations": iterations,
            "loop.batch_size": 4,
            "loop.workers": 1,
            "loop.seed": seed,
            "loop.min_trades": 5,
            "loop.runs_dir": str(work / "runs"),
            "audit.path": str(work / "audit" / "trail.jsonl"),
        },
    )
    make = parts_factory(config, flags=EnvFlagSource(AUDIT_OFF), run_id=f"run-{seed}")
    summary = LoopRunner.create(config, make, run_id=f"run-{seed}").run()
    assert summary.status == "completed", summary.message
    return summary.run_id


def evaluated_repeats(records: tuple[IterationRecord, ...]) -> int:
    """Candidates sent to evaluation whose canonical trial key an earlier one had (0: none)."""
    keys = Counter(
        trial_key(r.candidate.strategy)
        for r in records
        if r.status in SENT_STATUSES and r.candidate is not None
    )
    return sum(count - 1 for count in keys.values())
