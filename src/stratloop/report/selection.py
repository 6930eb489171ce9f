"""The selection verdict: the champion's validation excess, deflated for every candidate tried.

It is the one verdict on a run's champion before its holdout is opened, and
every page says the same: ``stratloop run`` and ``show`` print it, the tear
sheet shows it at the top. It reads the champion's figures and each distinct
candidate's validation figures (from the history, or from a run's
:class:`~stratloop.report.search.SearchView`), never the holdout.

The figures (definitions in ``docs/statistics.md``):

- ``N``: the distinct candidates the run evaluated (by strategy id, across
  resumes and workers; a re-evaluated duplicate adds no selection).
- ``V``: the observed variance of their per-period validation excess Sharpe
  ratios (``information_ratio / sqrt(A)``), floored at ``1 / (T - 1)`` with
  ``T`` the champion's validation days.
- the deflated Sharpe of the champion's validation excess returns: the
  probability that its true excess Sharpe beats the best of ``N`` zero-skill
  trials of variance ``V``. It is measured where the selection happened.
- the verdict: distinguishable at 5% when the validation excess is
  significant and its deflated Sharpe is at least 0.95
  (:func:`stratloop.backtest.verdict.benchmark_verdict`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from stratloop.backtest.deflated import (
    expected_max_sharpe,
    probabilistic_sharpe,
    trial_sharpe_variance,
)
from stratloop.backtest.verdict import Verdict, benchmark_verdict
from stratloop.config.models import StratloopConfig
from stratloop.iteration import IterationRecord
from stratloop.report.search import TRIAL_FIGURES, SearchView, trial_validation

__all__ = ["LEVEL", "SelectionVerdict", "benchmark_label", "selection_verdict", "trial_sharpes"]

LEVEL = 0.05
"""The significance level of the verdicts."""


def benchmark_label(benchmark: str) -> str:
    """How sentences name ``backtest.benchmark``."""
    if benchmark == "equal_weight":
        return "equal weight"
    if benchmark == "none":
        return "zero (no benchmark)"
    return benchmark


@dataclass(frozen=True, slots=True)
class SelectionVerdict:
    """The champion's validation figures judged against the run's trials.

    Args:
        n_trials: ``N``, distinct candidates evaluated.
        variance: ``V``, the floored variance of their per-period validation Sharpe ratios.
        deflated_sharpe: the champion's validation deflated Sharpe on excess.
        t_stat: the validation excess return's t-statistic (one comparison).
        p_value: its one-sided p-value.
        benchmark: the benchmark's name in sentences.
        verdict: the decision and its sentence (validation t-test, deflated).
    """

    n_trials: int
    variance: float
    deflated_sharpe: float
    t_stat: float
    p_value: float
    benchmark: str
    verdict: Verdict

    @property
    def headline(self) -> str:
        """The decision in words: "(not) distinguishable from B after deflation for N trials"."""
        word = "distinguishable" if self.verdict.distinguishable else "not distinguishable"
        trials = "trial" if self.n_trials == 1 else "trials"
        return f"{word} from {self.benchmark} after deflation for {self.n_trials} {trials}"

    @property
    def evidence(self) -> str:
        """The figures behind :attr:`headline`, deflated first."""
        level = self.verdict.level
        return (
            f"deflated Sharpe of the validation excess {self.deflated_sharpe:.3f} "
            f"(at least {1 - level:.2f} needed; N = {self.n_trials} distinct candidates, "
            f"V = {self.variance:.3g}); validation excess t = {self.t_stat:.2f}, one-sided "
            f"p = {self.p_value:.3f} (needs p < {level:g})"
        )


def trial_sharpes(
    trials: Iterable[IterationRecord] | SearchView, key: str, root: float
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Per-period validation ``key`` (``information_ratio`` or ``sharpe``) of each distinct trial.

    Args:
        trials: the run's history, or its search view.
        key: which validation figure; one of ``TRIAL_FIGURES``.
        root: ``sqrt(annualization)``, to de-annualise.
    """
    if isinstance(trials, SearchView):
        figures = trials.trial_validation
    else:
        figures = trial_validation(trials)
    index = TRIAL_FIGURES.index(key)
    values = [pair[index] / root for pair in figures if math.isfinite(pair[index])]
    return np.array(values, dtype=np.float64)


def selection_verdict(
    champion: Mapping[str, Any],
    trials: Iterable[IterationRecord] | SearchView,
    config: StratloopConfig,
) -> SelectionVerdict | None:
    """The verdict on the champion's validation excess, deflated for the run's trials.

    Args:
        champion: ``champion.json``'s content.
        trials: the run's history, or its search view.
        config: the run's configuration.

    Returns:
        None for a champion from before the validation folds (history schema 1-2).
    """
    validation = champion.get("validation")
    if not isinstance(validation, Mapping) or "n_days" not in validation:
        return None
    root = math.sqrt(config.backtest.annualization)
    excess = "information_ratio" in validation
    key = "information_ratio" if excess else "sharpe"
    sharpes = trial_sharpes(trials, key, root)
    n_days = int(validation["n_days"])
    sharpe = float(validation[key]) / root
    if excess:
        t_stat, p_value = float(validation["excess_t_stat"]), float(validation["excess_p_value"])
        skewness = float(validation["excess_skewness"])
        kurtosis = float(validation["excess_kurtosis"])
    else:
        from scipy.special import stdtr  # noqa: PLC0415 - scipy only here

        t_stat = sharpe * math.sqrt(n_days)
        p_value = float(stdtr(n_days - 1, -t_stat)) if n_days > 1 else 1.0
        skewness, kurtosis = 0.0, 3.0
    n_trials = max(len(sharpes), 1)
    variance = trial_sharpe_variance(sharpes, max(n_days, 2))
    deflated = probabilistic_sharpe(
        sharpe, expected_max_sharpe(n_trials, variance), n_days, skewness, kurtosis
    )
    label = benchmark_label(config.backtest.benchmark)
    verdict = benchmark_verdict(
        t_stat=t_stat, p_value=p_value, deflated_sharpe=deflated, level=LEVEL, benchmark=label
    )
    return SelectionVerdict(n_trials, variance, deflated, t_stat, p_value, label, verdict)
