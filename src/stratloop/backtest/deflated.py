"""The deflated Sharpe ratio (Bailey & López de Prado, 2014).

A Sharpe ratio found by trying many candidates is inflated by selection: the
best of ``N`` noise strategies has a positive Sharpe. The deflated Sharpe ratio
is the probability that the true Sharpe exceeds the Sharpe that the best of
``N`` independent *zero-skill* trials would reach by luck, corrected for the
skewness and kurtosis of the returns (the probabilistic Sharpe ratio, PSR,
against that benchmark). All Sharpe ratios here are per period (not annualised).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = ["deflated_sharpe", "expected_max_sharpe", "probabilistic_sharpe"]

_EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()
_TINY_VARIANCE = 1e-24
"""Return variances below this are float noise around zero volatility."""


def probabilistic_sharpe(
    sharpe: float, benchmark: float, n_obs: int, skewness: float, kurtosis: float
) -> float:
    """Probability that the true per-period Sharpe exceeds ``benchmark``.

    Args:
        sharpe: the observed per-period Sharpe ratio.
        benchmark: the Sharpe ratio to beat.
        n_obs: number of returns it was estimated from.
        skewness: skewness of the returns.
        kurtosis: kurtosis of the returns (not excess: 3 for a normal).

    Returns:
        A probability in [0, 1]; 0.0 when it is undefined (fewer than 2
        observations, or a non-positive variance estimate).

    >>> round(probabilistic_sharpe(0.1, 0.0, 253, 0.0, 3.0), 4)
    0.9446
    """
    variance = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if n_obs < 2 or not variance > 0.0 or not math.isfinite(variance):
        return 0.0
    z = (sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(variance)
    return _NORMAL.cdf(z)


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """Expected maximum Sharpe of ``n_trials`` independent zero-skill trials.

    Args:
        n_trials: how many candidates were tried (1 gives 0.0: no selection).
        variance: variance of the trials' Sharpe ratios.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if n_trials == 1:
        return 0.0
    first = _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
    second = _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(variance) * ((1.0 - _EULER_GAMMA) * first + _EULER_GAMMA * second)


def deflated_sharpe(
    returns: npt.NDArray[np.float64],
    n_trials: int,
    *,
    trial_sharpe_variance: float | None = None,
) -> float:
    """The deflated Sharpe ratio of a return series, as a probability.

    Args:
        returns: per-period returns.
        n_trials: number of candidates tried in the run (>= 1).
        trial_sharpe_variance: variance of the per-period Sharpe ratios of the
            trials. Unset means the variance of the Sharpe estimator under the
            null of zero skill, ``1 / (n - 1)``: every trial is treated as noise.

    Returns:
        A probability in [0, 1]; 0.0 when undefined (fewer than 3 returns or
        zero volatility: no evidence of skill).
    """
    n_obs = len(returns)
    if n_obs < 3:
        return 0.0
    centred = returns - returns.mean()
    squared = centred * centred
    m2 = float(np.mean(squared))
    if m2 < _TINY_VARIANCE:
        return 0.0
    skewness = float(np.mean(squared * centred)) / m2**1.5
    kurtosis = float(np.mean(squared * squared)) / m2**2
    sharpe = float(returns.mean()) / float(np.std(returns, ddof=1))
    variance = 1.0 / (n_obs - 1) if trial_sharpe_variance is None else trial_sharpe_variance
    benchmark = expected_max_sharpe(n_trials, variance)
    return probabilistic_sharpe(sharpe, benchmark, n_obs, skewness, kurtosis)
