"""Probability of backtest overfitting (CSCV) against a plain pandas version, and the verdict."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from stratloop.backtest.overfitting import backtest_overfitting
from stratloop.backtest.verdict import benchmark_verdict, holdout_verdict


def oracle_logits(returns: np.ndarray, n_blocks: int) -> np.ndarray:
    """CSCV written from the paper's steps, one combination at a time with pandas."""
    frame = pd.DataFrame(returns)
    size = len(frame) // n_blocks
    frame = frame.iloc[len(frame) - size * n_blocks :].reset_index(drop=True)
    blocks = [frame.iloc[i * size : (i + 1) * size] for i in range(n_blocks)]
    logits = []
    for chosen in itertools.combinations(range(n_blocks), n_blocks // 2):
        train = pd.concat([blocks[i] for i in chosen])
        test = pd.concat([blocks[i] for i in range(n_blocks) if i not in chosen])
        train_sharpe = train.mean() / train.std()
        test_sharpe = test.mean() / test.std()
        best = int(np.argmax(train_sharpe.to_numpy()))
        rank = stats.rankdata(test_sharpe.to_numpy())[best]
        w = rank / (len(test_sharpe) + 1)
        logits.append(math.log(w / (1 - w)))
    return np.array(logits)


class TestAgainstOracle:
    def test_logits_and_pbo(self):
        """Every combination's logit equals the pandas version to 1e-10 (remainder rows dropped)."""
        returns = np.random.default_rng(1).normal(0.0002, 0.01, (403, 12))
        result = backtest_overfitting(returns, n_blocks=8)
        expected = oracle_logits(returns, 8)
        assert result.n_combinations == result.n_possible == 70
        assert not result.sampled
        assert np.abs(result.logits - expected).max() < 1e-10
        assert result.pbo == np.mean(expected <= 0)


class TestProperties:
    def test_noise_is_near_one_half(self):
        """Trials of pure noise: the in-sample winner is a coin flip out of sample."""
        pbos = [
            backtest_overfitting(np.random.default_rng(seed).normal(0, 0.01, (1000, 40))).pbo
            for seed in range(6)
        ]
        assert 0.35 < np.mean(pbos) < 0.65

    def test_planted_skill_is_near_zero(self):
        """One trial with a real edge wins in and out of sample."""
        returns = np.random.default_rng(2).normal(0.0, 0.01, (1000, 40))
        returns[:, 7] += 0.003
        result = backtest_overfitting(returns)
        assert result.pbo < 0.05

    def test_sampled_when_combinations_exceed_the_cap(self):
        """Above the cap a seeded sample is drawn, reproducibly, and the result says so."""
        returns = np.random.default_rng(3).normal(0.0, 0.01, (400, 10))
        first = backtest_overfitting(returns, n_blocks=16, max_combinations=500, seed=4)
        again = backtest_overfitting(returns, n_blocks=16, max_combinations=500, seed=4)
        assert first.sampled
        assert (first.n_combinations, first.n_possible) == (500, 12_870)
        assert np.array_equal(first.logits, again.logits)
        json.dumps(first.as_dict(), allow_nan=False)

    @pytest.mark.parametrize(
        ("shape", "blocks", "match"),
        [((100, 1), 4, "N >= 2"), ((100, 5), 3, "even"), ((10, 5), 8, "blocks of at least 2")],
    )
    def test_rejects_bad_inputs(self, shape, blocks, match):
        """One trial, an odd block count or too few rows are errors."""
        with pytest.raises(ValueError, match=match):
            backtest_overfitting(np.zeros(shape), n_blocks=blocks)


class TestVerdict:
    def test_not_distinguishable(self):
        """A t of 1.25 is not significant at 5%, and the sentence says so in words."""
        verdict = benchmark_verdict(t_stat=1.25, p_value=0.106, deflated_sharpe=0.4, pbo=0.6)
        assert not verdict.distinguishable
        assert verdict.text.startswith("not distinguishable from equal weight at 5%")
        assert "selection likely overfit" in verdict.text

    def test_distinguishable(self):
        """Significant and surviving deflation: distinguishable."""
        verdict = benchmark_verdict(t_stat=3.1, p_value=0.001, deflated_sharpe=0.97, pbo=0.1)
        assert verdict.distinguishable
        assert verdict.text.startswith("distinguishable from equal weight at 5%")

    def test_significant_but_deflated(self):
        """A significant t that does not survive the trials' deflation is not distinguishable."""
        verdict = benchmark_verdict(t_stat=2.0, p_value=0.02, deflated_sharpe=0.5)
        assert not verdict.distinguishable
        assert "not after deflation" in verdict.text
        json.dumps(verdict.as_dict())


class TestHoldoutVerdict:
    def test_one_look_is_one_comparison(self):
        """A significant first look is distinguishable though the selection's deflation was not."""
        verdict = holdout_verdict(t_stat=13.6, p_value=1e-12, look=1, deflated_sharpe=0.0, pbo=0.0)
        assert verdict.distinguishable
        assert verdict.level == 0.05
        assert verdict.text.startswith("distinguishable from equal weight at 5%")
        assert "validation alone would not have shown it" in verdict.text

    def test_not_significant(self):
        """A holdout p of 0.088 is not distinguishable, whatever the deflated Sharpe."""
        verdict = holdout_verdict(t_stat=1.35, p_value=0.088, look=1, deflated_sharpe=0.99)
        assert not verdict.distinguishable
        assert verdict.text.startswith("not distinguishable from equal weight at 5%")

    @pytest.mark.parametrize(("look", "distinguishable"), [(1, True), (2, True), (3, False)])
    def test_each_look_spends_the_level(self, look, distinguishable):
        """Bonferroni over the looks: p = 0.02 passes at 5% and 2.5%, not at 1.67%."""
        verdict = holdout_verdict(t_stat=2.1, p_value=0.02, look=look)
        assert verdict.distinguishable is distinguishable
        assert verdict.level == pytest.approx(0.05 / look)
        assert (f"look {look} at this holdout" in verdict.text) is (look > 1)

    def test_look_counts_from_one(self):
        """Look 0 is a usage error."""
        with pytest.raises(ValueError, match="look counts from 1"):
            holdout_verdict(t_stat=1.0, p_value=0.1, look=0)
