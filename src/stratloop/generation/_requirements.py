"""The error raised when a configuration can mandate the LLM but none was injected."""

from __future__ import annotations

from stratloop.config.conflicts import llm_required
from stratloop.config.models import StratloopConfig
from stratloop.errors import ConfigConflictError
from stratloop.generation.base import CandidateSource

__all__ = ["require_llm"]


def require_llm(config: StratloopConfig, llm: CandidateSource | None) -> None:
    """Raise when the configuration can mandate the LLM but no LLM client was injected.

    Whether it can is :func:`stratloop.config.llm_required`, the rule the
    configuration's conflict checks use, so the two never disagree.

    Raises:
        ConfigConflictError: naming the fields that require the LLM.
    """
    if llm is None and llm_required(config):
        generation = config.generation
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
