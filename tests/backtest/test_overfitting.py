"""Probability of backtest overfitting (CSCV) against a plain pandas version, and the verdict."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from stratloop.backtest.overfitting import _all_halves, _sampled_halves, backtest_overfitting
from stratloop.backtest.verdict import benchmark_verdict


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


def whole_matrix_logits(returns: np.ndarray, train: np.ndarray) -> np.ndarray:
    """The previous implementation: every combination's half Sharpes in one matrix, then logits.

    ``train`` is the combinations x blocks mask; same centring and formulas as the
    product, so the chunked, paired version must give bit-identical logits.
    """
    n_blocks = train.shape[1]
    size = len(returns) // n_blocks
    used = returns[len(returns) - size * n_blocks :]
    shift = used.mean(axis=0)
    centred = (used - shift).reshape(n_blocks, size, -1)
    sums, squares = centred.sum(axis=1), (centred * centred).sum(axis=1)
    count = size * (n_blocks // 2)

    def sharpe(total: np.ndarray, square: np.ndarray) -> np.ndarray:
        mean = total / count
        std = np.sqrt(np.maximum((square - count * mean**2) / (count - 1), 0.0))
        return np.divide(mean + shift, std, out=np.zeros_like(mean), where=std > 1e-12)

    weights = train.astype(np.float64)
    inside = sharpe(weights @ sums, weights @ squares)
    outside = sharpe((1.0 - weights) @ sums, (1.0 - weights) @ squares)
    chosen = np.take_along_axis(outside, np.argmax(inside, axis=1)[:, None], axis=1)
    below, tied = (outside < chosen).sum(axis=1), (outside == chosen).sum(axis=1)
    relative = (below + (tied + 1) / 2.0) / (returns.shape[1] + 1)
    return np.log(relative / (1.0 - relative))


class TestAgainstSlowVersion:
    """Chunked and paired, the result is the whole-matrix version's, bit for bit."""

    @pytest.mark.parametrize(
        ("shape", "blocks", "cap"),
        [((403, 12), 8, 20_000), ((1000, 40), 16, 20_000), ((400, 10), 16, 500),
         ((700, 300), 16, 20_000), ((130, 3), 4, 20_000)],
    )
    def test_logits_are_identical(self, shape, blocks, cap):
        """All combinations or a sample, with a duplicated and a flat trial (exact ties)."""
        returns = np.random.default_rng(shape[1]).normal(0.0002, 0.01, shape)
        returns[:, 1] = returns[:, 0]
        returns[:, -1] = 0.0
        result = backtest_overfitting(returns, n_blocks=blocks, max_combinations=cap, seed=4)
        train = _sampled_halves(blocks, cap, 4) if result.sampled else _all_halves(blocks)
        expected = whole_matrix_logits(returns, train)
        assert np.array_equal(result.logits, expected)
        assert result.pbo == np.mean(expected <= 0.0)


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
        verdict = benchmark_verdict(
            t_stat=13.6, p_value=1e-12, look=1, deflated_sharpe=0.0, pbo=0.0
        )
        assert verdict.distinguishable
        assert verdict.level == 0.05
        assert verdict.text.startswith("distinguishable from equal weight at 5%")
        assert "validation alone would not have shown it" in verdict.text

    def test_not_significant(self):
        """A holdout p of 0.088 is not distinguishable, whatever the deflated Sharpe."""
        verdict = benchmark_verdict(t_stat=1.35, p_value=0.088, look=1, deflated_sharpe=0.99)
        assert not verdict.distinguishable
        assert verdict.text.startswith("not distinguishable from equal weight at 5%")

    @pytest.mark.parametrize(("look", "distinguishable"), [(1, True), (2, True), (3, False)])
    def test_each_look_spends_the_level(self, look, distinguishable):
        """Bonferroni over the looks: p = 0.02 passes at 5% and 2.5%, not at 1.67%."""
        verdict = benchmark_verdict(t_stat=2.1, p_value=0.02, look=look)
        assert verdict.distinguishable is distinguishable
        assert verdict.level == pytest.approx(0.05 / look)
        assert (f"look {look} at this holdout" in verdict.text) is (look > 1)

    def test_look_counts_from_one(self):
        """Look 0 is a usage error."""
        with pytest.raises(ValueError, match="look counts from 1"):
            benchmark_verdict(t_stat=1.0, p_value=0.1, look=0)
