"""One record per LLM call, and their summary per model.

Every completion the proposer asks for (the structured-output probe, the
first ask, each repair round) becomes an :class:`LLMCall` in the iteration's
record, so a user can see which model answered, how long it took, what it
cost, why it stopped and, for a rejected reply, what it actually wrote
(bounded and redacted). :func:`summarise_calls` folds them per model for
``stratloop llm-report``, the run summary and ``/metrics``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeAlias

from stratloop._share import Share
from stratloop.redaction import redact_text

__all__ = [
    "MAX_RECORDED_REPLY",
    "CallOutcome",
    "CallPurpose",
    "CallTally",
    "LLMCall",
    "ModelSummary",
    "summarise_calls",
]

CallPurpose: TypeAlias = Literal["probe", "propose", "repair"]
"""probe: the structured-output probe; propose: an iteration's first ask; repair: a repair round."""

CallOutcome: TypeAlias = Literal["accepted", "rejected", "failed", "probe"]
"""accepted: a valid spec; rejected: a reply that is not one; failed: no usable reply."""

MAX_RECORDED_REPLY = 2000
"""Characters of a rejected reply kept in its record."""
_MAX_RECORDED_ERROR = 500


def _bounded(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    clean = redact_text(text)
    return clean if len(clean) <= limit else clean[:limit] + " [...]"


@dataclass(frozen=True, slots=True)
class LLMCall:
    """One chat completion asked for by the proposer.

    Args:
        model: the model asked (the ensemble's choice, or ``llm.model``).
        purpose: probe, propose or repair.
        outcome: accepted, rejected, failed, or probe.
        latency_s: wall time of the call, retries included.
        prompt_tokens: tokens sent (0 when the call failed before a reply).
        completion_tokens: tokens received.
        cost: its price in ``cost_per_1k_tokens`` units; None when unpriced.
        finish_reason: why the model stopped, as reported.
        structured_output: the constraint sent: ``none``, ``json_schema`` or ``grammar``.
        error: why the reply was rejected or the call failed (bounded, redacted).
        reply: a rejected reply's raw text (bounded, redacted); None otherwise.
        verdict: for a probe, what it found: ``honoured``, ``ignored`` or ``rejected: ...``.
    """

    model: str
    purpose: CallPurpose
    outcome: CallOutcome
    latency_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    finish_reason: str | None = None
    structured_output: str = "none"
    error: str | None = None
    reply: str | None = None
    verdict: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "error", _bounded(self.error, _MAX_RECORDED_ERROR))
        object.__setattr__(self, "verdict", _bounded(self.verdict, _MAX_RECORDED_ERROR))
        object.__setattr__(self, "reply", _bounded(self.reply, MAX_RECORDED_REPLY))

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict[str, Any]:
        """The call as a history line's JSON object, key for field; only a probe has a verdict."""
        data = asdict(self)
        if self.verdict is None:
            del data["verdict"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LLMCall:
        """The call :meth:`to_json` wrote."""
        cost = data.get("cost")
        return cls(
            model=str(data["model"]),
            purpose=data["purpose"],
            outcome=data["outcome"],
            latency_s=float(data["latency_s"]),
            prompt_tokens=int(data.get("prompt_tokens", 0)),
            completion_tokens=int(data.get("completion_tokens", 0)),
            cost=None if cost is None else float(cost),
            finish_reason=data.get("finish_reason"),
            structured_output=str(data.get("structured_output", "none")),
            error=data.get("error"),
            reply=data.get("reply"),
            verdict=data.get("verdict"),
        )


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """What one model did over a run's calls.

    Args:
        model: the model.
        proposals: iterations it was asked for a strategy (first asks).
        valid_first_try: first asks whose reply was a valid spec.
        repaired: proposals that became valid in a repair round.
        failed_proposals: proposals that ended with no valid spec.
        calls: completions asked for, probes included.
        tokens: tokens spent.
        cost: money spent (None when unpriced).
        latency_sum: all calls' latency together, seconds.
        latencies: each call's latency, seconds, in call order (empty when not kept).
        finish_reasons: how many calls ended with each finish reason.
        rejections: how many rejected replies had each (shortened) reason.
        improvements: its candidates that became the champion.
        evaluated: its candidates that were backtested.
    """

    model: str
    proposals: int = 0
    valid_first_try: int = 0
    repaired: int = 0
    failed_proposals: int = 0
    calls: int = 0
    tokens: int = 0
    cost: float | None = None
    latency_sum: float = 0.0
    latencies: tuple[float, ...] = ()
    finish_reasons: Mapping[str, int] = field(default_factory=dict)
    rejections: Mapping[str, int] = field(default_factory=dict)
    improvements: int = 0
    evaluated: int = 0

    acceptance_rate = Share(
        ("valid_first_try", "repaired"),
        "proposals",
        "Share of proposals that ended with a valid spec (first try or repaired).",
    )
    valid_first_try_rate = Share(
        "valid_first_try", "proposals", "Share of proposals valid without a repair round."
    )
    repair_rate = Share(
        "repaired",
        "proposals",
        "Share of proposals that needed a repair round and got a valid spec from it.",
    )
    improvement_rate = Share(
        "improvements", "evaluated", "Share of its evaluated candidates that became the champion."
    )

    def describe(self) -> str:
        """One line for a run's summary."""

        def rate(value: float | None) -> str:
            return "-" if value is None else f"{value:.0%}"

        p50 = self.latency_percentile(50)
        cost = "" if self.cost is None else f", cost {self.cost:.4g}"
        latency = "" if p50 is None else f", latency p50 {p50:.2f}s"
        return (
            f"LLM {self.model}: {self.proposals} proposals, {rate(self.valid_first_try_rate)} "
            f"valid first try, {rate(self.repair_rate)} repaired, "
            f"{rate(self.improvement_rate)} improved the champion, {self.tokens} tokens"
            f"{cost}{latency}"
        )

    def latency_percentile(self, q: float) -> float | None:
        """The ``q`` (0-100) percentile of its calls' latency (nearest rank)."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1]


def _reason(error: str | None) -> str:
    """A rejection reason shortened to its kind (the text before the first detail)."""
    text = (error or "unknown").removeprefix("the LLM's reply is not a valid strategy spec: ")
    for mark in (" at position", " (", ": `", "; "):
        head, found, _ = text.partition(mark)
        if found:
            text = head
    return text[:120]


_COUNTED = (
    "proposals",
    "valid_first_try",
    "repaired",
    "failed_proposals",
    "calls",
    "tokens",
    "improvements",
    "evaluated",
)
"""The :class:`ModelSummary` fields a tally counts up one by one."""


@dataclass(slots=True)
class _Tally:
    counts: Counter[str] = field(default_factory=Counter)
    cost: float | None = None
    latency_sum: float = 0.0
    latencies: list[float] = field(default_factory=list)
    finish: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)

    def summary(self, model: str) -> ModelSummary:
        counts: dict[str, Any] = {name: self.counts[name] for name in _COUNTED}
        return ModelSummary(
            model=model,
            cost=self.cost,
            latency_sum=self.latency_sum,
            latencies=tuple(self.latencies),
            finish_reasons=dict(self.finish.most_common()),
            rejections=dict(self.rejections.most_common()),
            **counts,
        )


class CallTally:
    """Folds iterations' call records into per-model summaries, one iteration at a time.

    Args:
        keep_latencies: keep every call's latency (for percentiles); a
            service that folds a days-long run keeps only their sum.
    """

    __slots__ = ("_keep", "_tallies")

    def __init__(self, *, keep_latencies: bool = True) -> None:
        self._keep = keep_latencies
        self._tallies: dict[str, _Tally] = {}

    def add(self, calls: tuple[LLMCall, ...], champion: bool | None) -> None:
        """Fold one iteration's calls; ``champion`` is None when it was not evaluated.

        The iteration's proposal belongs to the model of its first non-probe call.
        """
        for call in calls:
            tally = self._tallies.setdefault(call.model, _Tally())
            tally.counts["calls"] += 1
            tally.counts["tokens"] += call.tokens
            if call.cost is not None:
                tally.cost = (tally.cost or 0.0) + call.cost
            tally.latency_sum += call.latency_s
            if self._keep:
                tally.latencies.append(call.latency_s)
            tally.finish[call.finish_reason or "none"] += 1
            if call.outcome == "rejected":
                tally.rejections[_reason(call.error)] += 1
        asks = [call for call in calls if call.purpose != "probe"]
        if not asks:
            return
        owner = self._tallies[asks[0].model].counts
        owner["proposals"] += 1
        if asks[-1].outcome != "accepted":
            owner["failed_proposals"] += 1
            return
        owner["valid_first_try" if len(asks) == 1 else "repaired"] += 1
        if champion is not None:
            owner["evaluated"] += 1
            owner["improvements"] += int(champion)

    def summaries(self) -> tuple[ModelSummary, ...]:
        """One summary per model, most called first."""
        summaries = [t.summary(model) for model, t in self._tallies.items()]
        return tuple(sorted(summaries, key=lambda s: (-s.calls, s.model)))


def summarise_calls(
    iterations: Iterable[tuple[tuple[LLMCall, ...], bool | None]],
) -> tuple[ModelSummary, ...]:
    """Per-model summaries of a run's calls, most used model first.

    Args:
        iterations: per iteration, its calls and whether its candidate became
            the champion (None when it was not evaluated).
    """
    tally = CallTally()
    for calls, champion in iterations:
        tally.add(calls, champion)
    return tally.summaries()
