"""Whether a strategy is distinguishable from its benchmark, in plain words.

At level ``a`` (5% by default) a strategy is *distinguishable* from the
benchmark when both hold:

- the one-sided p-value of its excess return's t-statistic is below ``a``
  (it beats the benchmark beyond noise), and
- the deflated Sharpe ratio of its excess returns, when given, is at least
  ``1 - a`` (it still does after correcting for the number of trials).

The probability of backtest overfitting, when given, does not decide: it is
about the selection process rather than this strategy, so the sentence
reports it and flags ``PBO >= 0.5`` (the in-sample winner is usually at or
below the median out of sample) as likely overfit.

The sealed holdout is judged differently (:func:`holdout_verdict`): the
selection never saw it, so one look at one champion is one comparison and
the selection's trials need no deflation there. Its excess t-test decides, at
``a / k`` for the ``k``-th look (Bonferroni over the looks: ``--again`` spends
the level). The validation deflated Sharpe and PBO are reported beside it, not
required: the deflated Sharpe's trial variance grows with a real edge (the
trials include the edge diluted and reversed), so requiring it as well would
refuse the strongest signals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Verdict", "benchmark_verdict", "holdout_verdict"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision and the sentence that states it.

    Args:
        distinguishable: true when the strategy beats the benchmark at ``level``.
        level: the significance level.
        text: the sentence, e.g. "not distinguishable from equal weight at 5% (...)".
    """

    distinguishable: bool
    level: float
    text: str

    def as_dict(self) -> dict[str, bool | float | str]:
        """Plain JSON-safe mapping."""
        return asdict(self)


def benchmark_verdict(
    *,
    t_stat: float,
    p_value: float,
    deflated_sharpe: float | None = None,
    pbo: float | None = None,
    level: float = 0.05,
    benchmark: str = "equal weight",
) -> Verdict:
    """The verdict on a strategy against ``benchmark`` (rule in the module docstring).

    Args:
        t_stat: t-statistic of the mean daily excess return.
        p_value: its one-sided p-value (alternative: the strategy beats the benchmark).
        deflated_sharpe: deflated Sharpe ratio of the excess returns, if known.
        pbo: probability of backtest overfitting of the run's selection, if known.
        level: significance level, in (0, 1).
        benchmark: the benchmark's name for the sentence.

    Raises:
        ValueError: ``level`` outside (0, 1).
    """
    _check_level(level)
    significant = p_value < level
    survives = deflated_sharpe is None or deflated_sharpe >= 1.0 - level
    distinguishable = significant and survives
    text = _sentence(distinguishable, level, benchmark, t_stat, p_value, deflated_sharpe, pbo)
    if significant and not survives:
        text += f" (significant alone, not after deflation for the trials: below {1 - level:.2f})"
    return Verdict(distinguishable=distinguishable, level=level, text=text)


def holdout_verdict(
    *,
    t_stat: float,
    p_value: float,
    look: int,
    deflated_sharpe: float | None = None,
    pbo: float | None = None,
    level: float = 0.05,
    benchmark: str = "equal weight",
) -> Verdict:
    """The verdict on a champion's sealed holdout (rule in the module docstring).

    Args:
        t_stat: t-statistic of the holdout's mean daily excess return.
        p_value: its one-sided p-value.
        look: which look at the run's holdout this is (1 for the first).
        deflated_sharpe: the champion's validation deflated Sharpe, reported beside.
        pbo: probability of backtest overfitting of the run's selection, reported beside.
        level: significance level of the first look, in (0, 1).
        benchmark: the benchmark's name for the sentence.

    Raises:
        ValueError: ``level`` outside (0, 1) or ``look`` below 1.
    """
    _check_level(level)
    if look < 1:
        raise ValueError(f"look counts from 1, got {look}")
    threshold = level / look
    distinguishable = p_value < threshold
    text = _sentence(distinguishable, threshold, benchmark, t_stat, p_value, deflated_sharpe, pbo)
    if look > 1:
        text += f" (look {look} at this holdout: the level is {_percent(level)} / {look})"
    if distinguishable and deflated_sharpe is not None and deflated_sharpe < 1.0 - level:
        text += (
            f" (the validation alone would not have shown it: deflated Sharpe below "
            f"{1 - level:.2f})"
        )
    return Verdict(distinguishable=distinguishable, level=threshold, text=text)


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level}")


def _sentence(
    distinguishable: bool,
    level: float,
    benchmark: str,
    t_stat: float,
    p_value: float,
    deflated_sharpe: float | None,
    pbo: float | None,
) -> str:
    evidence = [f"excess t = {t_stat:.2f}, one-sided p = {p_value:.3f}"]
    if deflated_sharpe is not None:
        evidence.append(f"deflated Sharpe on excess {deflated_sharpe:.2f}")
    if pbo is not None:
        note = " (selection likely overfit)" if pbo >= 0.5 else ""
        evidence.append(f"PBO {pbo:.2f}{note}")
    verdict = "distinguishable" if distinguishable else "not distinguishable"
    return f"{verdict} from {benchmark} at {_percent(level)}: {'; '.join(evidence)}"


def _percent(level: float) -> str:
    """``5%``, or ``2.50%`` for a level that is not a whole percentage."""
    whole = abs(level * 100 - round(level * 100)) < 1e-9
    return f"{level:.0%}" if whole else f"{level:.2%}"
