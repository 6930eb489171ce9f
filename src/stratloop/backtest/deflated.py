"""The deflated Sharpe ratio (Bailey & López de Prado, 2014).

A Sharpe ratio found by trying many candidates is inflated by selection: the
best of ``N`` noise strategies has a positive Sharpe. The deflated Sharpe ratio
is the probability that the true Sharpe exceeds the Sharpe that the best of
``N`` independent *zero-skill* trials would reach by luck, corrected for the
skewness and kurtosis of the returns (the probabilistic Sharpe ratio, PSR,
against that benchmark). All Sharpe ratios here are per period (not annualised).

Against a benchmark the same tests run on the *excess* returns ``s - b``
(:func:`excess_deflated_sharpe`, :func:`excess_probabilistic_sharpe`): the
question is whether the strategy beats what holding the benchmark gives for
free, not whether it beats cash. There ``N`` is the number of *distinct*
trials (a re-evaluated duplicate adds no selection) and ``V`` the observed
variance of the trials' excess Sharpe ratios, floored at ``1 / (T - 1)``
(:func:`trial_sharpe_variance`): that floor is the variance of the Sharpe
estimator of one zero-skill series of ``T`` returns, so the selection bar is
never set below what estimation noise alone produces. Without it, trials that
are near-copies of each other (one mutation apart) would have a tiny observed
variance and deflate almost nothing however many were tried.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = [
    "deflated_sharpe",
    "excess_deflated_sharpe",
    "excess_probabilistic_sharpe",
    "expected_max_sharpe",
    "probabilistic_sharpe",
    "return_moments",
    "trial_sharpe_variance",
]

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
    moments = _moments(returns)
    if moments is None:
        return 0.0
    sharpe, skewness, kurtosis = moments
    n_obs = len(returns)
    variance = 1.0 / (n_obs - 1) if trial_sharpe_variance is None else trial_sharpe_variance
    benchmark = expected_max_sharpe(n_trials, variance)
    return probabilistic_sharpe(sharpe, benchmark, n_obs, skewness, kurtosis)


def trial_sharpe_variance(trial_sharpes: npt.NDArray[np.float64], n_obs: int) -> float:
    """Observed variance (ddof=1) of the trials' per-period Sharpe ratios, floored at 1/(T-1).

    Args:
        trial_sharpes: one per-period Sharpe ratio per distinct trial.
        n_obs: ``T``, the number of returns each Sharpe was estimated from (>= 2).

    Returns:
        ``max(var(trial_sharpes, ddof=1), 1 / (n_obs - 1))``; the floor alone
        with fewer than 2 trials (see the module docstring for why).
    """
    if n_obs < 2:
        raise ValueError(f"n_obs must be >= 2, got {n_obs}")
    floor = 1.0 / (n_obs - 1)
    finite = trial_sharpes[np.isfinite(trial_sharpes)]
    if len(finite) < 2:
        return floor
    return max(float(np.var(finite, ddof=1)), floor)


def excess_probabilistic_sharpe(
    strategy: npt.NDArray[np.float64], benchmark: npt.NDArray[np.float64]
) -> float:
    """PSR of the excess returns ``strategy - benchmark`` against 0: P(true excess Sharpe > 0).

    Returns:
        A probability in [0, 1]; 0.0 when undefined (fewer than 3 returns or
        no tracking error).
    """
    excess = _excess(strategy, benchmark)
    moments = _moments(excess)
    if moments is None:
        return 0.0
    sharpe, skewness, kurtosis = moments
    return probabilistic_sharpe(sharpe, 0.0, len(excess), skewness, kurtosis)


def excess_deflated_sharpe(
    strategy: npt.NDArray[np.float64],
    benchmark: npt.NDArray[np.float64],
    trial_sharpes: npt.NDArray[np.float64],
) -> float:
    """Deflated Sharpe of the excess returns over the benchmark.

    Args:
        strategy: the selected strategy's per-period returns.
        benchmark: the benchmark's returns over the same periods.
        trial_sharpes: per-period excess Sharpe ratio of each *distinct* trial
            of the run (the selected one included): ``N = len(trial_sharpes)``
            (at least 1) and ``V = trial_sharpe_variance(trial_sharpes, T)``.

    Returns:
        A probability in [0, 1]; 0.0 when undefined (fewer than 3 returns or
        no tracking error).
    """
    excess = _excess(strategy, benchmark)
    if len(excess) < 3:
        return 0.0
    variance = trial_sharpe_variance(trial_sharpes, len(excess))
    return deflated_sharpe(excess, max(len(trial_sharpes), 1), trial_sharpe_variance=variance)


def return_moments(returns: npt.NDArray[np.float64]) -> tuple[float, float, float] | None:
    """Per-period Sharpe (ddof=1), skewness and kurtosis; None with fewer than 3 or flat returns."""
    return _moments(returns)


def _excess(
    strategy: npt.NDArray[np.float64], benchmark: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    if strategy.shape != benchmark.shape or strategy.ndim != 1:
        raise ValueError(
            f"strategy and benchmark returns must be 1-d of the same length, "
            f"got shapes {strategy.shape} and {benchmark.shape}"
        )
    return strategy - benchmark


def _moments(returns: npt.NDArray[np.float64]) -> tuple[float, float, float] | None:
    """Per-period Sharpe (ddof=1), skewness and kurtosis; None if fewer than 3 or flat."""
    n_obs = len(returns)
    if n_obs < 3:
        return None
    centred = returns - returns.mean()
    squared = centred * centred
    m2 = float(np.mean(squared))
    if m2 < _TINY_VARIANCE:
        return None
    skewness = float(np.mean(squared * centred)) / m2**1.5
    kurtosis = float(np.mean(squared * squared)) / m2**2
    sharpe = float(returns.mean()) / float(np.std(returns, ddof=1))
    return sharpe, skewness, kurtosis
