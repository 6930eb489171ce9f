"""Generation: decide between the LLM and the factor graph, and produce a candidate.

Three implementations share one outcome type: the Phase 0 legacy path, the
Phase 1-2 procedural path and the Phase 3 strategy pattern.
:func:`generate_iteration` picks one from the flags. For the same seed and
configuration the procedural and strategy-pattern paths make the same
decisions and produce the same candidates, bit for bit.
"""

from stratloop.generation.base import CandidateSource, DecidingStrategy, GenerationStrategy
from stratloop.generation.context import (
    ChampionSnapshot,
    Feedback,
    GenerationContext,
    iteration_rng,
)
from stratloop.generation.counters import (
    GenerationCounters,
    GenerationCountersSnapshot,
    adheres,
    mandated_method,
)
from stratloop.generation.decision import Decision, DecisionRule, decide, decide_legacy
from stratloop.generation.dispatch import generate_iteration, implementation_for
from stratloop.generation.factory import SELECTION_LOGGER, StrategyFactory
from stratloop.generation.legacy import generate_legacy
from stratloop.generation.outcome import Fallback, FallbackKind, GenerationOutcome, Implementation
from stratloop.generation.pattern import generate_with_strategy
from stratloop.generation.procedural import generate_procedural
from stratloop.generation.sources import FunctionSource
from stratloop.generation.strategies import (
    FactorGraphStrategy,
    FunctionStrategy,
    LLMStrategy,
    MixedStrategy,
)

__all__ = [
    "SELECTION_LOGGER",
    "CandidateSource",
    "ChampionSnapshot",
    "DecidingStrategy",
    "Decision",
    "DecisionRule",
    "FactorGraphStrategy",
    "Fallback",
    "FallbackKind",
    "Feedback",
    "FunctionSource",
    "FunctionStrategy",
    "GenerationContext",
    "GenerationCounters",
    "GenerationCountersSnapshot",
    "GenerationOutcome",
    "GenerationStrategy",
    "Implementation",
    "LLMStrategy",
    "MixedStrategy",
    "StrategyFactory",
    "adheres",
    "decide",
    "decide_legacy",
    "generate_iteration",
    "generate_legacy",
    "generate_procedural",
    "generate_with_strategy",
    "implementation_for",
    "iteration_rng",
    "mandated_method",
]
