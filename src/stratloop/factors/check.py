"""Validate a strategy's expression and give it its canonical text."""

from __future__ import annotations

from stratloop.factors.grammar import FactorReferences, parse
from stratloop.factors.graph import inline
from stratloop.factors.limits import Limits
from stratloop.factors.typecheck import typecheck
from stratloop.spec import Strategy

__all__ = ["check_strategy"]


def check_strategy(
    strategy: Strategy,
    *,
    fields: frozenset[str],
    limits: Limits,
    factors: FactorReferences | None = None,
) -> Strategy:
    """Parse and type-check ``strategy.expression``; return it with the canonical text.

    A ``factor("name")`` is replaced by the expression it stands for, so the
    returned strategy never depends on the library (which may change later).

    Args:
        strategy: a spec from either generator (the LLM's is untrusted text).
        fields: the data's stored fields (``returns`` is derived from ``close``).
        limits: size, depth and window bounds from the configuration.
        factors: what ``factor("name")`` refers to (the run's library), if any.

    Raises:
        ExpressionError: the expression does not parse, is ill-typed or too large.
    """
    parsed = parse(strategy.expression, limits=limits, factors=factors)
    expr = inline(typecheck(parsed, fields=fields, limits=limits))
    if expr.text == strategy.expression:
        return strategy
    return strategy.model_copy(update={"expression": expr.text})
