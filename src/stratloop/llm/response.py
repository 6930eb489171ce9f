"""Reply text → a checked :class:`~stratloop.spec.Strategy`, or a typed error.

What the model wrote is data. It is bounded in size, one JSON object (or a
plain YAML mapping) is extracted, its shape is validated by the strict
``Strategy`` model, and its expression is parsed and type-checked by the
strategy engine. Nothing in it is ever evaluated, imported or executed: a reply
such as ``__import__('os').system(...)`` ends as :class:`LLMGenerationError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from stratloop.errors import ExpressionError, SpecError
from stratloop.factors import Limits, check_strategy
from stratloop.factors.grammar import FactorReferences
from stratloop.llm._extract import ReplyBounds, extract_object, fail_reply
from stratloop.spec import Strategy

__all__ = ["ParsedReply", "ReplyBounds", "parse_reply"]

_RATIONALE = "rationale"
_MAX_SHOWN_ISSUES = 5


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """A valid strategy and the model's optional one-paragraph rationale."""

    strategy: Strategy
    rationale: str | None = None


def parse_reply(
    text: str,
    *,
    fields: frozenset[str],
    limits: Limits,
    bounds: ReplyBounds | None = None,
    factors: FactorReferences | None = None,
) -> ParsedReply:
    """Parse and check the one strategy spec in a model's reply.

    Args:
        text: the reply, verbatim.
        fields: the data fields an expression may use.
        limits: the expression size, depth and window limits.
        bounds: size bounds on the reply itself.
        factors: the persistent library's factors a reply may use as
            ``factor("name")``; the spec returned has them inlined.

    Raises:
        LLMGenerationError: no valid spec; the parser's or checker's error is
            chained as ``__cause__`` and its message is fit to send back to the
            model in a repair round.
    """
    bounds = bounds or ReplyBounds()
    spec = extract_object(text, bounds)
    rationale = spec.pop(_RATIONALE, None)
    if rationale is not None and (
        not isinstance(rationale, str) or len(rationale) > bounds.max_rationale_chars
    ):
        limit = bounds.max_rationale_chars
        fail_reply(f"`rationale` must be a string of at most {limit} characters")
    expression = spec.get("expression")
    if isinstance(expression, str) and len(expression) > bounds.max_expression_chars:
        fail_reply(
            f"`expression` is {len(expression)} characters long, more than the "
            f"{bounds.max_expression_chars} accepted; write a shorter expression"
        )
    try:
        strategy = Strategy.model_validate(spec)
    except ValidationError as exc:
        fail_reply(f"the spec's shape is wrong: {_issues(exc)}", exc)
    try:
        checked = check_strategy(strategy, fields=fields, limits=limits, factors=factors)
    except (ExpressionError, SpecError) as exc:
        fail_reply(f"the expression is not valid: {exc}", exc)
    return ParsedReply(checked, None if rationale is None else _printable(rationale))


def _printable(text: str) -> str:
    """The rationale with control characters (terminal escapes) replaced by spaces."""
    return "".join(char if char.isprintable() or char in "\n\t" else " " for char in text)


def _issues(exc: ValidationError) -> str:
    shown = []
    for error in exc.errors()[:_MAX_SHOWN_ISSUES]:
        where = ".".join(str(part) for part in error["loc"]) or "spec"
        shown.append(f"`{where}`: {error['msg']}")
    more = exc.error_count() - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
