"""Scenarios: the protocol calls noise noise and finds a planted edge, judged on the holdout.

Each scenario runs the real loop (factor graph, real workers, real backtests)
on a synthetic wide CSV panel and then opens its holdout with
``open_holdout``. Runs are kept short (few iterations, one worker, ten years
of 20 stocks) so that the scenarios take seconds; the statements are about
the protocol's error rates, which do not need long searches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from run_helpers import AUDIT_OFF
from stratloop.config.models import StratloopConfig
from stratloop.flags import EnvFlagSource
from stratloop.loop.assemble import parts_factory
from stratloop.loop.holdout import open_holdout
from stratloop.loop.runner import LoopRunner

N_ASSETS = 20
N_DATES = 2520


def _write(path: Path, log_returns: np.ndarray) -> Path:
    prices = 50.0 * np.exp(np.cumsum(log_returns, axis=0))
    dates = pd.bdate_range("2000-01-03", periods=len(prices))
    frame = pd.DataFrame(prices, columns=[f"S{j:02d}" for j in range(prices.shape[1])])
    frame.insert(0, "Date", dates.strftime("%Y-%m-%d"))
    frame.to_csv(path, index=False)
    return path


def random_walk(path: Path, seed: int) -> Path:
    """Zero-drift random walks with a common market factor: nothing to find."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0, 0.01, size=(N_DATES, 1))
    returns = 0.8 * market + rng.normal(0.0, 0.015, size=(N_DATES, N_ASSETS))
    returns -= returns.mean(axis=0)
    return _write(path, returns)


def planted_momentum(path: Path, seed: int, edge: float = 0.0015) -> Path:
    """Each stock has a hidden drift of +-edge per day that persists ~6 months (momentum)."""
    rng = np.random.default_rng(seed)
    regimes = np.repeat(rng.choice([-1.0, 1.0], size=(N_DATES // 126 + 1, N_ASSETS)), 126, axis=0)
    drift = edge * regimes[:N_DATES]
    market = rng.normal(0.0, 0.01, size=(N_DATES, 1))
    returns = drift + 0.8 * market + rng.normal(0.0, 0.015, size=(N_DATES, N_ASSETS))
    return _write(path, returns)


def _run(work: Path, data: Path, seed: int, iterations: int) -> str:
    config = StratloopConfig.model_validate(
        {
            "version": 1,
            "generation": {"use_factor_graph": True, "innovation_rate": 0},
            "data": {"source": str(data)},
            "loop": {
                "iterations": iterations,
                "batch_size": 4,
                "workers": 1,
                "seed": seed,
                "min_trades": 5,
                "runs_dir": str(work / "runs"),
            },
            "audit": {"path": str(work / "audit" / "trail.jsonl")},
        }
    )
    flags = EnvFlagSource(AUDIT_OFF)
    make = parts_factory(config, flags=flags, run_id=f"run-{seed}")
    summary = LoopRunner.create(config, make, run_id=f"run-{seed}").run()
    assert summary.status == "completed", summary.message
    return summary.run_id


@pytest.mark.slow
class TestScenarios:
    @pytest.mark.timeout(900)
    def test_random_walks_are_rarely_called_distinguishable(self, tmp_path):
        """On 20 zero-drift panels the champion beats equal weight at 5% at most once."""
        declared = 0
        for seed in range(20):
            work = tmp_path / f"rw{seed}"
            work.mkdir()
            run_id = _run(work, random_walk(work / "panel.csv", seed), seed, 4)
            result = open_holdout(work / "runs", run_id, audit_path=work / "audit" / "t.jsonl")
            declared += result.verdict.distinguishable
        assert declared <= 1

    @pytest.mark.timeout(600)
    def test_a_planted_momentum_edge_is_found_and_holds_out(self, tmp_path):
        """The champion's holdout IC is positive and significant, its excess return positive."""
        run_id = _run(tmp_path, planted_momentum(tmp_path / "panel.csv", 7), 7, 12)
        result = open_holdout(tmp_path / "runs", run_id, audit_path=tmp_path / "a.jsonl")
        held = result.holdout
        assert held["factor"]["ic"] > 0
        assert held["factor"]["ic_t_stat"] > 2.0
        assert held["excess_return"] > 0
