"""Validate a strategy's expression and give it its canonical text."""

from __future__ import annotations

from stratloop.factors.grammar import parse
from stratloop.factors.limits import Limits
from stratloop.factors.typecheck import typecheck
from stratloop.spec import Strategy

__all__ = ["check_strategy"]


def check_strategy(strategy: Strategy, *, fields: frozenset[str], limits: Limits) -> Strategy:
    """Parse and type-check ``strategy.expression``; return it with the canonical text.

    Args:
        strategy: a spec from either generator (the LLM's is untrusted text).
        fields: the data's stored fields (``returns`` is derived from ``close``).
        limits: size, depth and window bounds from the configuration.

    Raises:
        ExpressionError: the expression does not parse, is ill-typed or too large.
    """
    expr = typecheck(parse(strategy.expression, limits=limits), fields=fields, limits=limits)
    if expr.text == strategy.expression:
        return strategy
    return strategy.model_copy(update={"expression": expr.text})
