"""The loop's state as a pure function of the committed history.

The live loop and a resume both build the state the same way: by applying
history records, in order, exactly as they read back from ``history.jsonl``.
That is what makes a resumed run identical to an uninterrupted one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from stratloop.config.models import StratloopConfig
from stratloop.errors import RunError
from stratloop.generation.context import ChampionSnapshot, Feedback
from stratloop.llm.budget import Usage
from stratloop.loop.champion import ChampionTracker
from stratloop.loop.counters import LoopCounters

__all__ = ["FEEDBACK_SIZE", "LoopState"]

FEEDBACK_SIZE = 8
"""How many recent results the generators see as feedback."""


class LoopState:
    """Champion, recent feedback and counters after the records applied so far.

    Args:
        config: the run's configuration.
    """

    def __init__(self, config: StratloopConfig) -> None:
        self.champion = ChampionTracker(config.loop.champion_metric, config.loop.min_trades)
        self.counters = LoopCounters(config.generation)
        self._feedback: deque[Feedback] = deque(maxlen=FEEDBACK_SIZE)
        self.next_iteration = 0
        self.budget_mode: str | None = None

    @classmethod
    def replay(cls, config: StratloopConfig, records: Iterable[Mapping[str, Any]]) -> LoopState:
        """The state after ``records``; each record's champion flag must match the rule.

        Raises:
            RunError: a record is out of order or its champion flag contradicts
                the champion rule (the history does not belong to this configuration).
        """
        state = cls(config)
        for record in records:
            became = state.apply(record)
            if became != bool(record.get("champion")):
                raise RunError(
                    f"history iteration {record['iteration']} says "
                    f"champion={record.get('champion')} "
                    f"but the champion rule gives {became}; the history does not match the run's "
                    "configuration"
                )
        return state

    @property
    def feedback(self) -> tuple[Feedback, ...]:
        """The most recent results, oldest first."""
        return tuple(self._feedback)

    def usage(self) -> Usage:
        """The LLM usage the committed iterations spent."""
        return self.counters.usage()

    @property
    def snapshot(self) -> ChampionSnapshot | None:
        """The current champion."""
        return self.champion.snapshot

    def apply(self, record: Mapping[str, Any]) -> bool:
        """Apply one committed record; returns whether it became the champion."""
        if record["iteration"] != self.next_iteration:
            raise RunError(
                f"history iteration {record['iteration']} follows iteration "
                f"{self.next_iteration - 1}; the history is inconsistent"
            )
        became = False
        if record["status"] == "evaluated":
            became = self.champion.offer(
                record["iteration"], record["candidate"], record["train"], record["test"]
            )
        self.counters.add({**record, "champion": became})
        self._feedback.append(_feedback(record, self.champion.metric))
        if record.get("budget_mode"):
            self.budget_mode = record["budget_mode"]
        self.next_iteration += 1
        return became


def _feedback(record: Mapping[str, Any], metric: str) -> Feedback:
    candidate = record.get("candidate") or {}
    error = record.get("error")
    train = record.get("train") or {}
    score = train.get(metric)
    return Feedback(
        iteration=record["iteration"],
        expression=(candidate.get("spec") or {}).get("expression", ""),
        method=record.get("method_used") or record["decision"]["method"],
        score=float(score) if isinstance(score, int | float) else None,
        error=None if error is None else f"{error['type']}: {error['message']}",
    )
