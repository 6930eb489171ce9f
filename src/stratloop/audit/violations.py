"""Configuration violations, recomputed from each record's own snapshot and draw.

The same checker flags records when the trail writes them and when
``verify`` re-reads them, so a record's ``violation`` field can itself be
checked. Per record: the decision is recomputed with
:func:`~stratloop.generation.decision.decide`, with the rule of the
implementation that ran (``legacy`` for Phase 0, ``priority`` otherwise), and
compared; the implementation the recorded flags select is
:func:`~stratloop.generation.generate.implementation_for`, as at generation.
Per run: a binomial test of the LLM share against ``innovation_rate`` in each
configuration segment (``config_hash``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stratloop.audit.record import is_iteration_record
from stratloop.generation.decision import DRAW_RULES, Decision, decide
from stratloop.generation.generate import implementation_for

__all__ = [
    "DEFAULT_ALPHA",
    "RecordViolation",
    "ShareTest",
    "ViolationReport",
    "detect_violations",
    "record_violation",
]

DEFAULT_ALPHA = 1e-3
"""Significance level of the run-level share test (two-sided)."""


@dataclass(frozen=True, slots=True)
class RecordViolation:
    """One record that did not do what its configuration said."""

    seq: int | None
    iteration_num: int | None
    reason: str
    where: str = ""


@dataclass(frozen=True, slots=True)
class ShareTest:
    """The binomial test of one configuration segment's LLM share.

    Args:
        config_hash: the segment.
        trials: records decided by a draw in this segment.
        llm_decided: how many of them the decision sent to the LLM.
        llm_used: how many actually used the LLM.
        expected_rate: the configured share, 0-1.
        p_value: two-sided binomial p-value of ``llm_decided`` out of ``trials``.
        violated: True when ``p_value`` is below the significance level.
    """

    config_hash: str
    trials: int
    llm_decided: int
    llm_used: int
    expected_rate: float
    p_value: float
    violated: bool

    @property
    def observed_rate(self) -> float:
        """The decided LLM share."""
        return self.llm_decided / self.trials if self.trials else 0.0


@dataclass(frozen=True, slots=True)
class ViolationReport:
    """Every record-level violation and every segment's share test."""

    records: tuple[RecordViolation, ...]
    shares: tuple[ShareTest, ...]

    @property
    def count(self) -> int:
        """Record violations plus violated share tests."""
        return len(self.records) + sum(test.violated for test in self.shares)


def record_violation(record: Mapping[str, Any]) -> str | None:
    """Why ``record`` violates its own configuration, or None when it does not.

    Only iteration records carry a decision; a holdout record never violates.
    """
    if not is_iteration_record(record):
        return None
    snapshot = record.get("config_snapshot") or {}
    generation = snapshot.get("generation") if isinstance(snapshot, Mapping) else None
    llm = snapshot.get("llm") if isinstance(snapshot, Mapping) else None
    if not isinstance(generation, Mapping) or not isinstance(llm, Mapping):
        return (
            "the configuration snapshot has no generation/llm section, "
            "so the decision cannot be checked"
        )
    for key in ("use_factor_graph", "innovation_rate"):
        if key not in generation:
            return (
                f"the configuration snapshot lacks generation.{key}, "
                "so the decision cannot be checked"
            )
    decision = record["decision"]
    legacy = record.get("implementation") == "legacy"
    expected = decide(
        generation["use_factor_graph"],
        generation["innovation_rate"],
        decision["draw"],
        rule="legacy" if legacy else "priority",
        llm_enabled=bool(llm.get("enabled")),
    )
    problem = _implementation_mismatch(record) or _decision_mismatch(
        decision, expected, legacy=legacy
    )
    if problem:
        return problem
    return _method_problem(record, decision["method"], generation.get("on_llm_failure", "fail"))


def _implementation_mismatch(record: Mapping[str, Any]) -> str | None:
    """The flags choose the code path: Phase 1 off is legacy, Phase 3 on the strategy pattern."""
    flags = record.get("flags") or {}
    if "phase1_enabled" not in flags or "phase3_enabled" not in flags:
        return None
    expected = implementation_for(bool(flags["phase1_enabled"]), bool(flags["phase3_enabled"]))
    ran = record.get("implementation")
    if ran != expected:
        return f"the flags select the {expected} implementation but {ran} ran"
    return None


def _decision_mismatch(
    decision: Mapping[str, Any], expected: Decision, *, legacy: bool
) -> str | None:
    if not legacy and decision["use_factor_graph"] != expected.use_factor_graph:
        return (
            f"decision records use_factor_graph={decision['use_factor_graph']!r} but the "
            f"configuration says {expected.use_factor_graph!r}"
        )
    if decision["innovation_rate"] != expected.innovation_rate:
        return (
            f"decision records innovation_rate={decision['innovation_rate']!r} but the "
            f"configuration says {expected.innovation_rate!r}"
        )
    if decision["method"] != expected.method:
        if expected.rule.startswith("explicit"):
            return (
                f"use_factor_graph is {expected.use_factor_graph} but the decision was "
                f"{decision['method']}: explicit configuration not honoured"
            )
        return (
            f"draw {decision['draw']!r} (x100 = {decision['draw'] * 100:.4f}) against "
            f"innovation_rate {expected.innovation_rate:g} means {expected.method}, "
            f"but the decision was {decision['method']}"
        )
    if decision["rule"] != expected.rule:
        return (
            f"decision rule {decision['rule']!r} recorded but the configuration "
            f"implies {expected.rule!r}"
        )
    return None


def _method_problem(record: Mapping[str, Any], decided: str, on_llm_failure: str) -> str | None:
    used = record.get("generation_method_used")
    fallback = record.get("fallback")
    legacy = record.get("implementation") == "legacy"
    if fallback is None:
        if used is not None and used != decided:
            return (
                f"method used {used} differs from the decided {decided} with no fallback recorded"
            )
        return None
    if fallback["from_method"] != decided or (used is not None and fallback["to_method"] != used):
        return (
            f"fallback {fallback['from_method']} -> {fallback['to_method']} does not match the "
            f"decided {decided} and the method used {used}"
        )
    if fallback["kind"] == "silent" and not legacy:
        return (
            f"silent fallback {fallback['from_method']} -> {fallback['to_method']} under "
            f"implementation {record.get('implementation')} (Phase 1+ forbids silent fallbacks)"
        )
    if fallback["kind"] == "explicit" and on_llm_failure != "fallback_to_factor_graph":
        return (
            f"fallback {fallback['from_method']} -> {fallback['to_method']} taken but "
            f"generation.on_llm_failure is {on_llm_failure!r}, not 'fallback_to_factor_graph'"
        )
    return None


class _Segments:
    """Running counts of draw-decided records per configuration segment (``config_hash``).

    A legacy record with the LLM disabled has an expected LLM share of 0.
    """

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}
        self.rates: dict[str, float] = {}

    def add(self, record: Mapping[str, Any]) -> None:
        if not is_iteration_record(record):
            return
        decision = record["decision"]
        if decision["rule"] not in DRAW_RULES:
            return
        snapshot = record.get("config_snapshot") or {}
        llm_enabled = bool((snapshot.get("llm") or {}).get("enabled", True))
        rate = decision["innovation_rate"] / 100.0
        if decision["rule"] == "legacy_draw" and not llm_enabled:
            rate = 0.0
        key = str(record["config_hash"])
        counts = self.counts.setdefault(key, [0, 0, 0])
        self.rates.setdefault(key, rate)
        counts[0] += 1
        counts[1] += decision["method"] == "llm"
        counts[2] += record.get("generation_method_used") == "llm"

    def tests(self, alpha: float) -> tuple[ShareTest, ...]:
        from scipy.stats import binomtest  # noqa: PLC0415 - heavy, needed only here

        tests = []
        for key, (trials, decided, used) in self.counts.items():
            rate = min(max(self.rates[key], 0.0), 1.0)
            p_value = float(binomtest(decided, trials, rate).pvalue)
            tests.append(ShareTest(key, trials, decided, used, rate, p_value, p_value < alpha))
        return tuple(tests)


def detect_violations(
    records: Iterable[tuple[str, Mapping[str, Any]]], *, alpha: float = DEFAULT_ALPHA
) -> ViolationReport:
    """Check every ``(where, record)`` pair and run the share tests over all of them.

    A record whose stored ``violation`` flag disagrees with the recomputation
    is reported too: the flag itself must be trustworthy.
    """
    found: list[RecordViolation] = []
    segments = _Segments()
    for where, record in records:
        segments.add(record)
        reason = record_violation(record)
        seq, iteration = record.get("seq"), record.get("iteration_num")
        if reason is not None:
            found.append(RecordViolation(seq, iteration, reason, where))
        elif record.get("violation") is True:
            found.append(
                RecordViolation(
                    seq,
                    iteration,
                    f"record is flagged as a violation: {record.get('violation_reason')}",
                    where,
                )
            )
    return ViolationReport(tuple(found), segments.tests(alpha))
