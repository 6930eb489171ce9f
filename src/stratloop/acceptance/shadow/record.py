"""One iteration's generation output as shadow mode records and compares it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from stratloop.generation.outcome import GenerationOutcome

__all__ = ["COMPARED_FIELDS", "IGNORED_FIELDS", "ShadowRecord"]

COMPARED_FIELDS = (
    "method", "rule", "draw", "method_used", "candidate_id", "fallback_kind", "error_type",
)
"""What must be equal for two implementations to be behaviourally equivalent."""

IGNORED_FIELDS = ("strategy_selected", "implementation", "duration_ms")
"""What may differ: the code path's name and timings."""


@dataclass(frozen=True, slots=True)
class ShadowRecord:
    """The decision, method and candidate of one iteration, plus how long it took."""

    iteration: int
    method: str
    rule: str
    draw: float
    method_used: str | None
    candidate_id: str | None
    fallback_kind: str | None
    error_type: str | None
    strategy_selected: str
    implementation: str
    duration_ms: float

    @classmethod
    def of(cls, iteration: int, outcome: GenerationOutcome, duration_ms: float) -> ShadowRecord:
        """The record of ``outcome``."""
        return cls(
            iteration=iteration,
            method=outcome.decision.method,
            rule=outcome.decision.rule,
            draw=outcome.decision.draw,
            method_used=outcome.method_used,
            candidate_id=None if outcome.candidate is None else outcome.candidate.candidate_id,
            fallback_kind=None if outcome.fallback is None else outcome.fallback.kind,
            error_type=outcome.error_type,
            strategy_selected=outcome.strategy_selected,
            implementation=outcome.implementation,
            duration_ms=duration_ms,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShadowRecord:
        """Read a record written by :meth:`as_dict`; every field is required."""
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in data]
        if missing:
            raise ValueError(f"shadow record lacks {missing}; expected the fields {names}")
        return cls(**{name: data[name] for name in names})

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def differences(self, other: ShadowRecord) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(compared fields that differ, ignored fields that differ)."""
        compared = tuple(n for n in COMPARED_FIELDS if getattr(self, n) != getattr(other, n))
        ignored = tuple(n for n in IGNORED_FIELDS if getattr(self, n) != getattr(other, n))
        return compared, ignored
