"""The built-in default configuration: factor graph only, LLM off, embedded data.

It is what ``stratloop run`` uses without a file: no network, no API key, no
LLM money spent (``use_factor_graph: true``, ``innovation_rate: 0``).
"""

from __future__ import annotations

from typing import Any

from stratloop.config.models import GenerationConfig, StratloopConfig

__all__ = ["default_config", "default_document"]


def default_document() -> dict[str, Any]:
    """The default configuration as a fresh v1 document (for layering overrides on)."""
    return {"version": 1, "generation": {"use_factor_graph": True, "innovation_rate": 0}}


def default_config() -> StratloopConfig:
    """The built-in default configuration.

    >>> default_config().generation.use_factor_graph
    True
    """
    return StratloopConfig(
        version=1, generation=GenerationConfig(use_factor_graph=True, innovation_rate=0.0)
    )
