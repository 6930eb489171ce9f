"""The ``Flags`` value object: the five raw flags and the phases they make effective.

Rules (DESIGN.md "Feature flags and phases"): unset means true; the master
switch off makes every phase off (Phase 0, legacy); Phase 3 requires Phase 1,
so ``PHASE3_STRATEGY_PATTERN`` true with ``PHASE1_CONFIG_ENFORCEMENT`` false
(master on) is a :class:`~stratloop.errors.FlagCombinationError`. Every other
combination is legal. The effective phase is the highest ``n`` with phases
1..n all on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stratloop.errors import FlagCombinationError

__all__ = [
    "FLAG_VARIABLES",
    "MASTER",
    "PHASE1",
    "PHASE2",
    "PHASE3",
    "PHASE4",
    "ROLLOUT_SUFFIX",
    "Flags",
    "Rollout",
]

MASTER = "ENABLE_GENERATION_REFACTORING"
PHASE1 = "PHASE1_CONFIG_ENFORCEMENT"
PHASE2 = "PHASE2_PYDANTIC_VALIDATION"
PHASE3 = "PHASE3_STRATEGY_PATTERN"
PHASE4 = "PHASE4_AUDIT_TRAIL"
FLAG_VARIABLES = (MASTER, PHASE1, PHASE2, PHASE3, PHASE4)
"""The five flag variables, master first, then the phases in order."""
ROLLOUT_SUFFIX = "_ROLLOUT_PERCENT"
"""``<FLAG>_ROLLOUT_PERCENT=10`` turns ``<FLAG>`` on for 10% of instances only."""


@dataclass(frozen=True, slots=True)
class Rollout:
    """A percentage rollout of one flag, as resolved for one instance.

    Args:
        variable: the flag variable the rollout limits.
        percent: the share of instances that get the flag, 0-100.
        targeting_key: the key that was bucketed (the instance id by default).
        included: whether this instance is inside the rollout.
    """

    variable: str
    percent: float
    targeting_key: str
    included: bool


@dataclass(frozen=True, slots=True)
class Flags:
    """The five feature flags of one instance at one moment.

    The boolean fields are the raw values after any percentage rollout was
    applied for this instance; the properties are the effective phases.

    Args:
        master: ``ENABLE_GENERATION_REFACTORING``, the kill switch.
        phase1: ``PHASE1_CONFIG_ENFORCEMENT``.
        phase2: ``PHASE2_PYDANTIC_VALIDATION``.
        phase3: ``PHASE3_STRATEGY_PATTERN``.
        phase4: ``PHASE4_AUDIT_TRAIL``.
        source: where the values were read (environment, a file, a provider).
        rollouts: the percentage rollouts that decided any of the values.

    Raises:
        FlagCombinationError: Phase 3 on with Phase 1 off while the master switch is on.
    """

    master: bool = True
    phase1: bool = True
    phase2: bool = True
    phase3: bool = True
    phase4: bool = True
    source: str = "defaults"
    rollouts: tuple[Rollout, ...] = ()

    def __post_init__(self) -> None:
        if self.master and self.phase3 and not self.phase1:
            raise FlagCombinationError(
                f"{PHASE3}=true requires {PHASE1}=true (from {self.source}): the strategy "
                f"pattern has no silent fallback without Phase 1 enforcement; set {PHASE1}=true "
                f"or {PHASE3}=false"
            )

    @property
    def enforcement(self) -> bool:
        """Phase 1 is effective: priority rule, conflict checks, no silent fallback."""
        return self.master and self.phase1

    @property
    def pydantic_validation(self) -> bool:
        """Phase 2 is effective: configuration goes through the Pydantic models."""
        return self.master and self.phase2

    @property
    def strategy_pattern(self) -> bool:
        """Phase 3 is effective: generation goes through the strategy classes."""
        return self.master and self.phase3

    @property
    def audit_trail(self) -> bool:
        """Phase 4 is effective: every iteration writes an audit record."""
        return self.master and self.phase4

    @property
    def effective_phase(self) -> int:
        """0 when the master switch is off, else the highest ``n`` with phases 1..n all on."""
        if not self.master:
            return 0
        phase = 0
        for on in (self.phase1, self.phase2, self.phase3, self.phase4):
            if not on:
                break
            phase += 1
        return phase

    def raw(self) -> dict[str, bool]:
        """The five variables and their values, keyed by variable name."""
        values = (self.master, self.phase1, self.phase2, self.phase3, self.phase4)
        return dict(zip(FLAG_VARIABLES, values, strict=True))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view for records and ``/health``: effective phases, then raw values."""
        result: dict[str, Any] = {
            "phase1_enabled": self.enforcement,
            "phase2_enabled": self.pydantic_validation,
            "phase3_enabled": self.strategy_pattern,
            "phase4_enabled": self.audit_trail,
            "effective_phase": self.effective_phase,
        }
        result.update(self.raw())
        result["source"] = self.source
        result["rollouts"] = {
            r.variable: {
                "percent": r.percent,
                "targeting_key": r.targeting_key,
                "included": r.included,
            }
            for r in self.rollouts
        }
        return result
