"""Helpers of the LLM tests."""

from __future__ import annotations

from typing import Any

from stratloop.config.models import GenerationConfig, LLMConfig, StratloopConfig
from stratloop.generation.context import GenerationContext


def llm_context(llm: LLMConfig, iteration: int = 7, **kwargs: Any) -> GenerationContext:
    """An LLM-only iteration context with the ``llm`` section ``llm``."""
    config = StratloopConfig(
        version=1,
        generation=GenerationConfig(use_factor_graph=False, innovation_rate=0),
        llm=llm,
    )
    return GenerationContext.create(config, iteration, **kwargs)
