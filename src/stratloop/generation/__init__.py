"""Generation: decide between the LLM and the factor graph, and produce a candidate.

One path, :func:`generate`, decides and calls the decided generator; the flags
select its behaviour as data (the rule, the failure policy, whether the Phase
3 strategies carry the call). :func:`generate_iteration` is the loop's entry
point: it maps the flags to that behaviour. For the same seed and
configuration every flag state with the priority rule makes the same
decisions and produces the same candidates, bit for bit.
"""

from stratloop.generation.context import (
    ChampionSnapshot,
    Feedback,
    GenerationContext,
    iteration_rng,
)
from stratloop.generation.counters import GenerationCounters
from stratloop.generation.decision import Decision, decide
from stratloop.generation.generate import generate, generate_iteration
from stratloop.generation.outcome import Fallback, GenerationOutcome
from stratloop.generation.strategies import (
    SELECTION_LOGGER,
    CandidateSource,
    FactorGraphStrategy,
    FunctionSource,
    FunctionStrategy,
    GenerationStrategy,
    LLMStrategy,
    MixedStrategy,
    Sources,
    StrategyFactory,
)

__all__ = [
    "SELECTION_LOGGER",
    "CandidateSource",
    "ChampionSnapshot",
    "Decision",
    "FactorGraphStrategy",
    "Fallback",
    "Feedback",
    "FunctionSource",
    "FunctionStrategy",
    "GenerationContext",
    "GenerationCounters",
    "GenerationOutcome",
    "GenerationStrategy",
    "LLMStrategy",
    "MixedStrategy",
    "Sources",
    "StrategyFactory",
    "decide",
    "generate",
    "generate_iteration",
    "iteration_rng",
]
