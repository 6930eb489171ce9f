"""The one failure policy all three implementations apply once the decision is made.

Sharing it is what keeps the paths' outcomes equal: the procedural and the
strategy-pattern paths differ only in how they reach the generator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeAlias

from stratloop._types import GenerationMethod
from stratloop.errors import ConfigError, GenerationError, StratloopError
from stratloop.generation.context import GenerationContext
from stratloop.generation.decision import Decision
from stratloop.generation.outcome import Fallback, GenerationOutcome, Implementation
from stratloop.spec import Candidate

__all__ = ["FailurePolicy", "Produce", "attempt"]

Produce: TypeAlias = Callable[[GenerationContext], Candidate]
"""A call into one generator for one iteration."""

FailurePolicy: TypeAlias = Literal["fail", "fallback_to_factor_graph", "silent"]
"""What an LLM failure does: the two ``on_llm_failure`` values, or legacy's silent fallback."""


def attempt(
    ctx: GenerationContext,
    decision: Decision,
    *,
    implementation: Implementation,
    selected: str,
    produce: Produce,
    fallback: Produce,
    policy: FailurePolicy,
) -> GenerationOutcome:
    """Run ``produce`` for ``decision`` and turn a generator failure into an outcome.

    Args:
        ctx: the iteration's context.
        decision: the decision already made (its draw already taken).
        implementation: the code path, recorded in the outcome.
        selected: the strategy or path name, recorded as ``strategy_selected``.
        produce: the decided generator.
        fallback: the factor graph, used only when the LLM failed and ``policy``
            falls back.
        policy: what an LLM failure does.

    Raises:
        ConfigError: a generator reported a configuration problem.
        GenerationError: a generator returned a candidate marked with another method.
    """
    try:
        candidate = produce(ctx)
    except ConfigError:
        raise
    except StratloopError as exc:
        if decision.method != "llm" or policy == "fail":
            return _failed(implementation, decision, selected, exc, None)
        switch = Fallback(
            kind="silent" if policy == "silent" else "explicit",
            from_method="llm",
            to_method="factor_graph",
            reason=_fallback_reason(policy, exc),
            error_type=type(exc).__name__,
        )
        try:
            rescued = fallback(ctx)
        except ConfigError:
            raise
        except StratloopError as second:
            return _failed(implementation, decision, selected, second, switch)
        return GenerationOutcome(
            implementation=implementation,
            decision=decision,
            strategy_selected=selected,
            method_used="factor_graph",
            candidate=_checked(rescued, "factor_graph"),
            fallback=switch,
            error_type=type(exc).__name__,
            error_message=str(exc),
        )
    return GenerationOutcome(
        implementation=implementation,
        decision=decision,
        strategy_selected=selected,
        method_used=decision.method,
        candidate=_checked(candidate, decision.method),
    )


def _failed(
    implementation: Implementation,
    decision: Decision,
    selected: str,
    exc: StratloopError,
    switch: Fallback | None,
) -> GenerationOutcome:
    return GenerationOutcome(
        implementation=implementation,
        decision=decision,
        strategy_selected=selected,
        method_used=None,
        candidate=None,
        fallback=switch,
        error_type=type(exc).__name__,
        error_message=str(exc),
    )


def _fallback_reason(policy: FailurePolicy, exc: StratloopError) -> str:
    name = type(exc).__name__
    if policy == "silent":
        return f"legacy: the LLM failed ({name}); the factor graph ran instead, unannounced"
    return (
        f"the LLM failed ({name}); `generation.on_llm_failure` is "
        "`fallback_to_factor_graph`, so the factor graph ran instead"
    )


def _checked(candidate: Candidate, method: GenerationMethod) -> Candidate:
    if candidate.method != method:
        raise GenerationError(
            f"the {method} generator returned a candidate marked {candidate.method!r}; "
            "a generator must mark its candidates with its own method"
        )
    return candidate
