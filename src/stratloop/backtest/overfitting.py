"""Probability of backtest overfitting by combinatorially symmetric cross-validation.

Bailey, Borwein, López de Prado and Zhu (2015), "The probability of backtest
overfitting". Given the daily returns of ``N`` trials (a ``T x N`` matrix):

1. The rows are cut into ``S`` (even) contiguous blocks of ``T // S`` rows;
   the earliest ``T mod S`` rows are dropped so the blocks are equal and the
   most recent data is kept.
2. For each way of choosing ``S / 2`` blocks as the in-sample set (the other
   half is the out-of-sample set; ``C(S, S/2)`` combinations, each with its
   complement), every trial's per-period Sharpe ratio (mean / std, ddof=1;
   0.0 when the std is below 1e-12) is measured on both halves.
3. The in-sample best trial ``n*`` (ties: the first) gets its relative rank
   out of sample, ``w = r / (N + 1)`` with ``r`` its average rank (1 = worst)
   among the ``N`` out-of-sample Sharpe ratios, and the logit
   ``l = ln(w / (1 - w))``.
4. PBO is the share of combinations with ``l <= 0``: how often the in-sample
   winner is at or below the out-of-sample median.

Pure-noise trials give a PBO near 0.5; a trial with real skill that wins in
sample also wins out of sample and gives a PBO near 0. When ``C(S, S/2)``
exceeds ``max_combinations`` a seeded sample of ``max_combinations``
combinations is drawn uniformly (independently, so a combination may repeat)
and the result says it was sampled.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_BLOCKS", "DEFAULT_MAX_COMBINATIONS", "Overfitting", "backtest_overfitting"]

DEFAULT_BLOCKS = 16
"""The paper's choice: C(16, 8) = 12,870 combinations."""

DEFAULT_MAX_COMBINATIONS = 20_000
"""Above this many combinations a seeded sample of this size is used."""

_TINY = 1e-12

_CHUNK_CELLS = 1 << 14
"""Combinations x trials measured at once (128 KB per float64 matrix: in cache)."""

BoolMatrix = npt.NDArray[np.bool_]
FloatMatrix = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class Overfitting:
    """The CSCV outcome (see the module docstring).

    Args:
        pbo: share of combinations whose logit is <= 0.
        logits: one logit per combination evaluated.
        n_blocks: ``S``.
        n_trials: ``N``.
        n_combinations: combinations evaluated.
        n_possible: ``C(S, S/2)``.
        sampled: true when the combinations are a seeded sample, not all.
    """

    pbo: float
    logits: FloatMatrix
    n_blocks: int
    n_trials: int
    n_combinations: int
    n_possible: int
    sampled: bool

    def as_dict(self) -> dict[str, float | int | bool]:
        """JSON-safe summary (the logits are finite: ``0 < w < 1``)."""
        return {
            "pbo": self.pbo,
            "median_logit": float(np.median(self.logits)),
            "n_blocks": self.n_blocks,
            "n_trials": self.n_trials,
            "n_combinations": self.n_combinations,
            "n_possible": self.n_possible,
            "sampled": self.sampled,
        }


def backtest_overfitting(
    returns: FloatMatrix,
    *,
    n_blocks: int = DEFAULT_BLOCKS,
    max_combinations: int = DEFAULT_MAX_COMBINATIONS,
    seed: int = 0,
) -> Overfitting:
    """PBO of selecting the best of the trials' columns by in-sample Sharpe.

    Args:
        returns: ``T x N`` per-period returns, one column per trial (finite, N >= 2).
        n_blocks: ``S``, even, at least 2; each block needs at least 2 rows.
        max_combinations: cap on the combinations evaluated.
        seed: seed of the sample drawn when the cap applies.

    Raises:
        ValueError: a shape, block count or cap out of range, or non-finite returns.
    """
    _check(returns, n_blocks, max_combinations)
    n_rows, n_trials = returns.shape
    size = n_rows // n_blocks
    used = returns[n_rows - size * n_blocks :]
    n_possible = math.comb(n_blocks, n_blocks // 2)
    sampled = n_possible > max_combinations
    train = _sampled_halves(n_blocks, max_combinations, seed) if sampled else _all_halves(n_blocks)
    logits = _combination_logits(used, train, size, paired=not sampled)
    return Overfitting(
        pbo=float(np.mean(logits <= 0.0)),
        logits=logits,
        n_blocks=n_blocks,
        n_trials=n_trials,
        n_combinations=len(train),
        n_possible=n_possible,
        sampled=sampled,
    )


def _all_halves(n_blocks: int) -> BoolMatrix:
    """Every choice of ``n_blocks / 2`` blocks, as a combinations x blocks mask.

    In lexicographic order the complement of row ``i`` is row ``C - 1 - i``,
    which :func:`_combination_logits` uses to measure each pair once.
    """
    chosen = np.array(list(itertools.combinations(range(n_blocks), n_blocks // 2)))
    mask = np.zeros((len(chosen), n_blocks), dtype=np.bool_)
    np.put_along_axis(mask, chosen, True, axis=1)
    return mask


def _sampled_halves(n_blocks: int, count: int, seed: int) -> BoolMatrix:
    """``count`` independent uniform choices of half the blocks."""
    order = np.argsort(np.random.default_rng(seed).random((count, n_blocks)), axis=1)
    mask = np.zeros((count, n_blocks), dtype=np.bool_)
    np.put_along_axis(mask, order[:, : n_blocks // 2], True, axis=1)
    return mask


def _combination_logits(
    used: FloatMatrix, train: BoolMatrix, size: int, *, paired: bool
) -> FloatMatrix:
    """The logit of every combination (row of ``train``), a chunk of rows at a time.

    Per combination and trial, the Sharpe ratios of the in-sample and
    out-of-sample halves come from per-block sums added in block order (the
    sums a 0/1 matrix product gives, without a BLAS call per chunk, whose
    threads cost more than the work on a busy machine); the returns are
    centred on each trial's overall mean first so that the sums of squares do
    not lose precision (the variance does not depend on the shift). Chunks of
    about ``_CHUNK_CELLS`` combinations x trials stay in cache, where whole
    combinations x trials matrices (200 MB each at 12,870 x 2,000) would not.
    ``paired``: row ``C - 1 - i`` is the
    complement of row ``i`` (:func:`_all_halves`), so one pair of half
    Sharpes serves both, each combination's figures computed as for itself.
    """
    n_blocks = train.shape[1]
    shift = used.mean(axis=0)
    centred = (used - shift).reshape(n_blocks, size, -1)
    sums = centred.sum(axis=1)
    squares = (centred * centred).sum(axis=1)
    n_half = size * (n_blocks // 2)
    n_combinations = len(train)
    logits = np.empty(n_combinations)
    measured = n_combinations // 2 if paired else n_combinations
    step = max(1, _CHUNK_CELLS // sums.shape[1])
    half = n_blocks // 2
    inside_blocks = np.nonzero(train)[1].reshape(n_combinations, half)
    outside_blocks = np.nonzero(~train)[1].reshape(n_combinations, half)
    for begin in range(0, measured, step):
        end = min(begin + step, measured)
        chosen, rest = inside_blocks[begin:end], outside_blocks[begin:end]
        inside = _sharpe(sums[chosen].sum(axis=1), squares[chosen].sum(axis=1), shift, n_half)
        outside = _sharpe(sums[rest].sum(axis=1), squares[rest].sum(axis=1), shift, n_half)
        logits[begin:end] = _logits(outside, np.argmax(inside, axis=1))
        if paired:
            mirrored = _logits(inside, np.argmax(outside, axis=1))
            logits[n_combinations - end : n_combinations - begin] = mirrored[::-1]
    return logits


def _sharpe(sums: FloatMatrix, squares: FloatMatrix, shift: FloatMatrix, count: int) -> FloatMatrix:
    """Sharpe ratio (ddof=1) from sums of returns centred by ``shift``; 0.0 when flat.

    ``sums`` is overwritten (each chunk's sums are its own); the operations
    are those of ``(squares - count * mean**2) / (count - 1)``, in place.
    """
    mean = np.divide(sums, count, out=sums)
    variance = np.multiply(mean, mean)
    variance *= count
    np.subtract(squares, variance, out=variance)
    variance /= count - 1
    std = np.sqrt(np.maximum(variance, 0.0, out=variance), out=variance)
    mean += shift
    return np.divide(mean, std, out=np.zeros_like(mean), where=std > _TINY)


def _logits(test_sharpe: FloatMatrix, best: npt.NDArray[np.intp]) -> FloatMatrix:
    """``ln(w / (1 - w))`` of the in-sample best's relative out-of-sample rank ``w``."""
    n_trials = test_sharpe.shape[1]
    chosen = np.take_along_axis(test_sharpe, best[:, None], axis=1)
    below = (test_sharpe < chosen).sum(axis=1)
    tied = (test_sharpe == chosen).sum(axis=1)
    relative = (below + (tied + 1) / 2.0) / (n_trials + 1)
    logits: FloatMatrix = np.log(relative / (1.0 - relative))
    return logits


def _check(returns: FloatMatrix, n_blocks: int, max_combinations: int) -> None:
    if returns.ndim != 2 or returns.shape[1] < 2:
        raise ValueError(f"returns must be T x N with N >= 2 trials, got shape {returns.shape}")
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"n_blocks must be even and >= 2, got {n_blocks}")
    if returns.shape[0] < 2 * n_blocks:
        raise ValueError(
            f"{returns.shape[0]} rows cannot make {n_blocks} blocks of at least 2 rows"
        )
    if max_combinations < 1:
        raise ValueError(f"max_combinations must be >= 1, got {max_combinations}")
    if not np.isfinite(returns).all():
        raise ValueError("returns must be finite (a trial with no return that day earns 0)")
