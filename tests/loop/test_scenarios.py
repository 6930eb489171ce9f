"""Scenarios: the protocol calls noise noise and finds a planted edge, judged on the holdout.

Each scenario runs the real loop (factor graph, real workers, real backtests)
on a synthetic wide CSV panel and then opens its holdout with
``open_holdout``. Runs are kept short (few iterations, one worker, ten years
of 20 stocks) so that the scenarios take seconds; the statements are about
the protocol's error rates, which do not need long searches. The same
statements at the research issue's scale are in ``test_scenarios_full.py``.
"""

from __future__ import annotations

import pytest
from scenario_helpers import planted_momentum, random_walk, run_loop

from stratloop.loop.holdout import open_holdout

N_ASSETS = 20
N_DATES = 2520


@pytest.mark.slow
class TestScenarios:
    @pytest.mark.timeout(900)
    def test_random_walks_are_rarely_called_distinguishable(self, tmp_path):
        """On 20 zero-drift panels the champion beats equal weight at 5% at most once."""
        declared = 0
        for seed in range(20):
            work = tmp_path / f"rw{seed}"
            work.mkdir()
            data = random_walk(work / "panel.csv", seed, n_dates=N_DATES, n_assets=N_ASSETS)
            run_id = run_loop(work, data, seed, 4)
            result = open_holdout(work / "runs", run_id, audit_path=work / "audit" / "t.jsonl")
            declared += result.verdict.distinguishable
        assert declared <= 1

    @pytest.mark.timeout(600)
    def test_a_planted_momentum_edge_is_found_and_holds_out(self, tmp_path):
        """The champion's holdout IC is positive and significant, its excess return positive."""
        data = planted_momentum(tmp_path / "panel.csv", 7, n_dates=N_DATES, n_assets=N_ASSETS)
        run_id = run_loop(tmp_path, data, 7, 12)
        result = open_holdout(tmp_path / "runs", run_id, audit_path=tmp_path / "a.jsonl")
        held = result.holdout
        assert held["factor"]["ic"] > 0
        assert held["factor"]["ic_t_stat"] > 2.0
        assert held["excess_return"] > 0
