"""When an iteration needs the LLM, and the error when none was injected."""

from __future__ import annotations

from stratloop.config.models import GenerationConfig
from stratloop.errors import ConfigConflictError
from stratloop.generation.base import CandidateSource

__all__ = ["llm_required", "require_llm"]


def llm_required(generation: GenerationConfig) -> bool:
    """True when the Phase 1 rule can pick the LLM for this configuration."""
    if generation.use_factor_graph is None:
        return generation.innovation_rate > 0.0
    return not generation.use_factor_graph


def require_llm(generation: GenerationConfig, llm: CandidateSource | None) -> None:
    """Raise when the configuration can mandate the LLM but no LLM client was injected.

    Raises:
        ConfigConflictError: naming the fields that require the LLM.
    """
    if llm is None and llm_required(generation):
        raise ConfigConflictError(
            "llm_required_but_missing",
            {
                "generation.use_factor_graph": generation.use_factor_graph,
                "generation.innovation_rate": generation.innovation_rate,
            },
            "this configuration can mandate the LLM, but no LLM client was provided",
            "configure `llm.enabled: true` with `llm.base_url`, or set "
            "`generation.use_factor_graph: true` (or null with `innovation_rate: 0`)",
        )
