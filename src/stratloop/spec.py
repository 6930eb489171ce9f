"""The strategy spec: the one candidate format both generators produce.

A strategy is a signal expression in the factor DSL plus a portfolio rule and
optional exits. The LLM writes it as JSON or YAML text; the factor-graph
generator builds it by rewriting the expression's graph. Either way it is data:
parsed, type-checked and bounded, never executed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from stratloop._types import GenerationMethod

__all__ = [
    "Candidate",
    "Exits",
    "Lineage",
    "LongShort",
    "PortfolioRule",
    "Strategy",
    "Threshold",
    "TopN",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class TopN(BaseModel):
    """Hold the ``n`` highest-signal assets long, equally weighted."""

    model_config = _FROZEN
    kind: Literal["top_n"] = "top_n"
    n: Annotated[int, Field(ge=1, le=1000)]
    rebalance_days: Annotated[int, Field(ge=1, le=252)] = 21


class LongShort(BaseModel):
    """Long the top ``quantile`` of assets by signal, short the bottom ``quantile``."""

    model_config = _FROZEN
    kind: Literal["long_short"] = "long_short"
    quantile: Annotated[float, Field(gt=0.0, le=0.5)]
    rebalance_days: Annotated[int, Field(ge=1, le=252)] = 21


class Threshold(BaseModel):
    """Long assets whose signal is above ``upper``; short those below ``lower`` if set."""

    model_config = _FROZEN
    kind: Literal["threshold"] = "threshold"
    upper: float
    lower: float | None = None
    rebalance_days: Annotated[int, Field(ge=1, le=252)] = 21


PortfolioRule: TypeAlias = Annotated[TopN | LongShort | Threshold, Field(discriminator="kind")]
"""How a signal panel becomes target weights."""


class Exits(BaseModel):
    """Optional exits applied between rebalances."""

    model_config = _FROZEN
    stop_loss: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None
    """Close a position once it has lost this fraction since entry."""
    max_holding_days: Annotated[int, Field(ge=1, le=2520)] | None = None
    """Close a position held this many trading days without a rebalance renewing it."""


class Strategy(BaseModel):
    """A complete candidate: signal expression, portfolio rule and exits.

    The expression is checked by :func:`stratloop.factors.check_strategy`;
    this model only fixes the shape.
    """

    model_config = _FROZEN
    expression: Annotated[str, Field(min_length=1, max_length=4000)]
    portfolio: PortfolioRule
    exits: Exits = Exits()

    def canonical_json(self) -> str:
        """Stable JSON text: the identity of the strategy."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def strategy_id(self) -> str:
        """A short stable id derived from the canonical JSON."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a candidate came from: its parents and the operator that made it."""

    parents: tuple[str, ...] = ()
    operator: str = "seed"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A strategy proposed in one iteration, with how it was made."""

    strategy: Strategy
    method: GenerationMethod
    lineage: Lineage = Lineage()

    @property
    def candidate_id(self) -> str:
        """The strategy's stable id."""
        return self.strategy.strategy_id()
