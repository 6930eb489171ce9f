"""Compare two shadow logs: equivalence, mismatches kept apart from ignored differences."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stratloop.acceptance.shadow.record import ShadowRecord

__all__ = ["Comparison", "Mismatch", "compare_records"]


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One iteration whose compared fields differ (or that one side lacks)."""

    iteration: int
    fields: tuple[str, ...]
    old: ShadowRecord | None
    new: ShadowRecord | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """Result of comparing an old (control) and a new (candidate) log.

    ``equivalence`` is the share of iterations (the union of both logs) whose
    decision, method and candidate id match; ``ignored`` counts matching
    iterations that differ only in ignored fields (code-path name, timings).
    """

    total: int
    matched: int
    ignored: int
    mismatches: tuple[Mismatch, ...]

    @property
    def equivalence(self) -> float:
        """Matched over total iterations (1.0 for two empty logs)."""
        return self.matched / self.total if self.total else 1.0

    def passes(self, threshold: float) -> bool:
        """Some iteration was compared and equivalence is at least ``threshold``.

        Nothing compared proves nothing, so an empty comparison never passes.
        """
        return self.total > 0 and self.equivalence >= threshold

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict, with the first 100 mismatches."""
        return {
            "total": self.total,
            "matched": self.matched,
            "mismatched": len(self.mismatches),
            "ignored": self.ignored,
            "equivalence": self.equivalence,
            "mismatches": [
                {
                    "iteration": m.iteration,
                    "fields": list(m.fields),
                    "old": None if m.old is None else m.old.as_dict(),
                    "new": None if m.new is None else m.new.as_dict(),
                }
                for m in self.mismatches[:100]
            ],
        }


def compare_records(old: Sequence[ShadowRecord], new: Sequence[ShadowRecord]) -> Comparison:
    """Pair records by iteration and compare them.

    Raises:
        ValueError: a log holds the same iteration twice.
    """
    old_by = _by_iteration(old, "old")
    new_by = _by_iteration(new, "new")
    matched = ignored = 0
    mismatches: list[Mismatch] = []
    for iteration in sorted(old_by.keys() | new_by.keys()):
        before, after = old_by.get(iteration), new_by.get(iteration)
        if before is None or after is None:
            mismatches.append(Mismatch(iteration, ("missing",), before, after))
            continue
        compared, skipped = before.differences(after)
        if compared:
            mismatches.append(Mismatch(iteration, compared, before, after))
        else:
            matched += 1
            ignored += bool(skipped)
    return Comparison(len(old_by.keys() | new_by.keys()), matched, ignored, tuple(mismatches))


def _by_iteration(records: Sequence[ShadowRecord], side: str) -> dict[int, ShadowRecord]:
    result: dict[int, ShadowRecord] = {}
    for record in records:
        if record.iteration in result:
            raise ValueError(f"the {side} log holds iteration {record.iteration} twice")
        result[record.iteration] = record
    return result
