"""The complexity penalty: what the champion rule subtracts for an expression's size.

AlphaAgent's lesson against alpha decay: a bigger expression fits the train
data more easily and decays sooner, so, when configured, the champion rule
compares ``metric - (per_node * nodes + per_constant * constants)`` instead of
the metric. A *free constant* is a number literal that is not an operator's
window or lag (``ts_mean(returns, 20)`` has none, ``close / ts_mean(close, 20)
- 1`` has one): windows are parameters of the operator, counted as its nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from stratloop.config.models import ComplexityPenaltyConfig
from stratloop.factors import Call, Expr, Number, parse
from stratloop.factors.limits import EVALUATION_LIMITS
from stratloop.factors.ops import OPERATORS
from stratloop.iteration import Objective

__all__ = ["Complexity", "ComplexityPenalty", "complexity", "parsed", "penalty_of"]


@lru_cache(maxsize=4096)
def parsed(expression: str) -> Expr:
    """The expression tree of a candidate's (already validated) text, cached by text."""
    return parse(expression, limits=EVALUATION_LIMITS)


@dataclass(frozen=True, slots=True)
class Complexity:
    """An expression's size: its nodes and its free constants."""

    nodes: int
    constants: int


def complexity(expr: Expr) -> Complexity:
    """The nodes and free constants of ``expr`` (see the module docstring).

    >>> complexity(parse("close / ts_mean(close, 20) - 1"))
    Complexity(nodes=6, constants=1)
    """
    return Complexity(nodes=expr.size, constants=_constants(expr))


def _constants(expr: Expr) -> int:
    if isinstance(expr, Number):
        return 1
    if isinstance(expr, Call):
        operator = OPERATORS.get(expr.name)
        window = operator.window_param if operator is not None else None
        skip = operator.params.index(window) if operator is not None and window else -1
        return sum(_constants(arg) for i, arg in enumerate(expr.args) if i != skip)
    return sum(_constants(child) for child in expr.children)


@dataclass(frozen=True, slots=True)
class ComplexityPenalty:
    """``search.complexity_penalty`` applied to candidates.

    Args:
        metric: ``loop.champion_metric`` (named in the record).
        per_node: subtracted per node.
        per_constant: subtracted per free constant.
    """

    metric: str
    per_node: float = 0.0
    per_constant: float = 0.0

    @classmethod
    def from_config(cls, metric: str, config: ComplexityPenaltyConfig) -> ComplexityPenalty:
        """The penalty the run's configuration asks for."""
        return cls(metric, config.per_node, config.per_constant)

    @property
    def active(self) -> bool:
        """True when a rate is non-zero: only then does a record carry its objective."""
        return self.per_node > 0.0 or self.per_constant > 0.0

    def of(self, size: Complexity) -> float:
        """The penalty of an expression of this size."""
        return self.per_node * size.nodes + self.per_constant * size.constants

    def objective(self, expression: str, raw: float | None) -> Objective:
        """The record's objective: ``raw`` (None: not eligible), the penalty, their difference."""
        size = complexity(parsed(expression))
        penalty = self.of(size)
        return Objective(
            metric=self.metric,
            raw=raw,
            nodes=size.nodes,
            constants=size.constants,
            penalty=penalty,
            score=None if raw is None else raw - penalty,
        )


def penalty_of(objective: Objective | None) -> float:
    """The penalty a record's objective says was applied (0 without one)."""
    return 0.0 if objective is None else objective.penalty
