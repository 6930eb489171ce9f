"""Deterministic candidate sources for tests, benchmarks and shadow runs.

They speak the real :class:`~stratloop.generation.strategies.CandidateSource`
protocol and continue the iteration's generator after the decision's draw, so
two implementations given the same seed see the same stream and produce the
same candidates when they are equivalent, and different ones when they are not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from stratloop._types import GenerationMethod
from stratloop.config.models import GenerationConfig, LLMConfig, StratloopConfig
from stratloop.errors import StratloopError
from stratloop.generation.context import GenerationContext
from stratloop.generation.strategies import FunctionSource
from stratloop.spec import Candidate, Lineage, Strategy, TopN

__all__ = ["config_with", "constant_source", "drawing_source", "failing_source"]


def config_with(
    use_factor_graph: bool | None,
    innovation_rate: float,
    *,
    on_llm_failure: Literal["fail", "fallback_to_factor_graph"] = "fail",
    llm_enabled: bool = True,
    seed: int = 42,
) -> StratloopConfig:
    """A complete configuration with these generation fields and a loopback LLM endpoint."""
    return StratloopConfig.model_validate(
        {
            "version": 1,
            "generation": GenerationConfig(
                use_factor_graph=use_factor_graph,
                innovation_rate=innovation_rate,
                on_llm_failure=on_llm_failure,
            ),
            "llm": LLMConfig(enabled=llm_enabled, base_url="http://127.0.0.1:9/v1", model="m"),
            "loop": {"seed": seed},
        }
    )


def drawing_source(method: GenerationMethod) -> FunctionSource:
    """A source whose candidate's window and portfolio size come from ``ctx.rng``.

    Args:
        method: the method its candidates are marked with.
    """

    def propose(ctx: GenerationContext) -> Candidate:
        window = int(ctx.rng.integers(2, 253))
        top = int(ctx.rng.integers(1, 11))
        strategy = Strategy(
            expression=f"rank(ts_mean(returns, {window}))", portfolio=TopN(n=top)
        )
        return Candidate(strategy, method, Lineage(operator=f"{method}_draw"))

    return FunctionSource(propose)


def constant_source(candidate: Candidate) -> FunctionSource:
    """A source that always returns ``candidate`` and touches nothing else."""

    def propose(ctx: GenerationContext) -> Candidate:
        del ctx
        return candidate

    return FunctionSource(propose)


def failing_source(make_error: Callable[[], StratloopError]) -> FunctionSource:
    """A source that raises a fresh ``make_error()``, after taking one draw like a real attempt."""

    def propose(ctx: GenerationContext) -> Candidate:
        ctx.rng.random()
        raise make_error()

    return FunctionSource(propose)
