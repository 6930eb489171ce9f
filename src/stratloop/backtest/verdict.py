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

The sealed holdout is judged differently (``look`` given): the
selection never saw it, so one look at one champion is one comparison and
the selection's trials need no deflation there. Its excess t-test decides, at
``a / k`` for the ``k``-th look (Bonferroni over the looks: ``--again`` spends
the level). The validation deflated Sharpe and PBO are reported beside it, not
required: the deflated Sharpe's trial variance grows with a real edge (the
trials include the edge diluted and reversed), so requiring it as well would
refuse the strongest signals.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratloop.backtest._plain import PlainRecord

__all__ = ["Verdict", "benchmark_verdict"]


@dataclass(frozen=True, slots=True)
class Verdict(PlainRecord[bool | float | str]):
    """The decision and the sentence that states it.

    Args:
        distinguishable: true when the strategy beats the benchmark at ``level``.
        level: the significance level.
        text: the sentence, e.g. "not distinguishable from equal weight at 5% (...)".
    """

    distinguishable: bool
    level: float
    text: str


def benchmark_verdict(
    *,
    t_stat: float,
    p_value: float,
    deflated_sharpe: float | None = None,
    pbo: float | None = None,
    level: float = 0.05,
    benchmark: str = "equal weight",
    look: int | None = None,
) -> Verdict:
    """The verdict on a strategy against ``benchmark`` (rules in the module docstring).

    Args:
        t_stat: t-statistic of the mean daily excess return.
        p_value: its one-sided p-value (alternative: the strategy beats the benchmark).
        deflated_sharpe: deflated Sharpe ratio of the excess returns, if known.
        pbo: probability of backtest overfitting of the run's selection, if known.
        level: significance level (of the first look, for a holdout), in (0, 1).
        benchmark: the benchmark's name for the sentence.
        look: for a sealed holdout, which look at it this is (1 for the first): the
            t-test then decides at ``level / look`` and the deflated Sharpe is reported
            beside it, not required.

    Raises:
        ValueError: ``level`` outside (0, 1) or ``look`` below 1.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    if look is not None and look < 1:
        raise ValueError(f"look counts from 1, got {look}")
    threshold = level if look is None else level / look
    significant = p_value < threshold
    survives = deflated_sharpe is None or deflated_sharpe >= 1.0 - level
    distinguishable = significant and (survives or look is not None)
    evidence = [f"excess t = {t_stat:.2f}, one-sided p = {p_value:.3f}"]
    if deflated_sharpe is not None:
        evidence.append(f"deflated Sharpe on excess {deflated_sharpe:.2f}")
    if pbo is not None:
        note = " (selection likely overfit)" if pbo >= 0.5 else ""
        evidence.append(f"PBO {pbo:.2f}{note}")
    verdict = "distinguishable" if distinguishable else "not distinguishable"
    text = f"{verdict} from {benchmark} at {_percent(threshold)}: {'; '.join(evidence)}"
    if look is not None and look > 1:
        text += f" (look {look} at this holdout: the level is {_percent(level)} / {look})"
    if significant and not survives:
        why = (
            "the validation alone would not have shown it: deflated Sharpe"
            if look is not None
            else "significant alone, not after deflation for the trials:"
        )
        text += f" ({why} below {1 - level:.2f})"
    return Verdict(distinguishable=distinguishable, level=threshold, text=text)


def _percent(level: float) -> str:
    """``5%``, or ``2.50%`` for a level that is not a whole percentage."""
    whole = abs(level * 100 - round(level * 100)) < 1e-9
    return f"{level:.0%}" if whole else f"{level:.2%}"
