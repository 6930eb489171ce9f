"""The run's trials: which candidates were evaluated, so that none is evaluated twice.

A candidate's trial key (:func:`~stratloop.factors.canonical.trial_key`: the
canonical expression, the portfolio rule and the exits) names the trial. The
ledger holds the key of every candidate sent to evaluation and, for each
evaluated one, its signal's fingerprint. It is built by applying committed
records, like the rest of :class:`~stratloop.loop.state.LoopState`, so a
resumed run holds the same set; the driver process owns it, whatever the
number of workers. Candidates generated earlier in the batch in hand are
reserved as they are generated, so a batch never evaluates one twice either.
"""

from __future__ import annotations

from functools import lru_cache

from stratloop.config.models import SearchConfig
from stratloop.errors import ExpressionError
from stratloop.factors.canonical import trial_key
from stratloop.factors.fingerprint import FingerprintBank, Screen
from stratloop.iteration import IterationRecord, Redundancy, Status
from stratloop.spec import Strategy

__all__ = ["SENT_STATUSES", "TrialLedger", "rule_key"]

SENT_STATUSES: frozenset[Status] = frozenset(
    {"evaluated", "evaluation_failed", "evaluation_timeout", "redundant"}
)
"""Statuses of iterations whose candidate was sent to evaluation (its key is taken)."""


def rule_key(strategy: Strategy) -> str:
    """The trading rule (portfolio and exits) as text: fingerprints are compared within one."""
    return strategy.portfolio.model_dump_json() + strategy.exits.model_dump_json()


class TrialLedger:
    """Trial keys of the candidates sent to evaluation, and the evaluated signals' fingerprints.

    Args:
        search: the run's ``search`` section.
    """

    def __init__(self, search: SearchConfig) -> None:
        self._search = search
        self._first: dict[str, int] = {}
        self._bank = FingerprintBank()

    @property
    def distinct(self) -> int:
        """Distinct candidates sent to evaluation (the per-iteration ``deflated_sharpe``'s N)."""
        return len(self._first)

    def repeat_of(self, strategy: Strategy) -> int | None:
        """The iteration that first tried ``strategy``'s trial, or None when it is new.

        A candidate whose expression does not parse has no key and is new: it
        was never evaluated, and validation rejects it.
        """
        key = _key(strategy)
        return None if key is None else self._first.get(key)

    def reserve(self, iteration: int, strategy: Strategy) -> None:
        """Take ``strategy``'s key for ``iteration``, which is about to be evaluated."""
        key = _key(strategy)
        if key is not None:
            self._first.setdefault(key, iteration)

    def redundancy(self, strategy: Strategy, fingerprint: str | None) -> Redundancy | None:
        """The evaluated candidate whose signal ``fingerprint`` nearly duplicates, if any.

        Off when ``search.max_signal_correlation`` is 1 or the evaluator gave no fingerprint.
        """
        threshold = self._search.max_signal_correlation
        if fingerprint is None or threshold >= 1.0:
            return None
        similar = self._bank.most_similar(rule_key(strategy), fingerprint)
        if similar is None or similar.correlation <= threshold:
            return None
        return Redundancy(similar.iteration, round(similar.correlation, 6), threshold)

    def screen(self, strategy: Strategy) -> Screen | None:
        """What a worker compares ``strategy``'s signal with before backtesting it.

        The evaluated fingerprints of its trading rule now; None when
        redundancy is off (``search.max_signal_correlation`` is 1) or none is stored.
        """
        threshold = self._search.max_signal_correlation
        if threshold >= 1.0:
            return None
        return self._bank.screen(rule_key(strategy), threshold)

    def apply(self, record: IterationRecord) -> None:
        """Take the key of a committed record's candidate if it was sent to evaluation."""
        candidate = record.candidate
        if candidate is None or record.status not in SENT_STATUSES:
            return
        self.reserve(record.iteration_num, candidate.strategy)
        if record.status == "evaluated" and record.fingerprint is not None:
            self._bank.add(record.iteration_num, rule_key(candidate.strategy), record.fingerprint)


@lru_cache(maxsize=4096)
def _key(strategy: Strategy) -> str | None:
    try:
        return trial_key(strategy)
    except ExpressionError:
        return None
