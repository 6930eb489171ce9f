"""The real generators the Phase 3 checks and shadow runs inject.

The factor graph is the real :class:`~stratloop.factors.FactorGraphGenerator`
on the environment's data; the LLM side is the real
:class:`~stratloop.llm.proposer.LLMProposer` and its ``openai`` client. Both
are built by :func:`stratloop.loop.assemble.build_parts`, exactly as
``stratloop run`` builds them. The LLM is asked either a loopback
:class:`~stratloop.acceptance.llm_server.ScriptedOpenAIServer` serving valid strategy specs (a
rehearsal: no money spent, no dependence on a model's mood) or the configured
endpoint; :attr:`Generators.note` says which, and the commands print it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from stratloop.acceptance.llm_server import Reply, ScriptedOpenAIServer, scripted_specs
from stratloop.config.models import StratloopConfig
from stratloop.flags import EnvFlagSource, instance_id
from stratloop.generation.strategies import CandidateSource
from stratloop.llm.budget import Usage
from stratloop.loop.assemble import build_parts

__all__ = ["ConfigLoader", "Generators", "LLMEndpoint", "real_generators"]

LLMEndpoint: TypeAlias = Literal["scripted", "configured"]
"""Which endpoint the LLM proposer asks: a loopback scripted server, or ``llm.base_url``."""

ConfigLoader: TypeAlias = Callable[[Mapping[str, Any]], StratloopConfig]
"""Loads the effective configuration with extra overrides (dotted field paths)."""

_SCRIPTED_REPLIES = 16
_REHEARSAL_RUN_ID = "phase3-rehearsal"


@dataclass(frozen=True, slots=True)
class Generators:
    """The injected generators and the configuration they were built for.

    Args:
        config: the effective configuration (with the scripted endpoint, if any).
        llm: the LLM proposer, or None when the configured LLM is disabled.
        factor_graph: the factor-graph generator on the configuration's data.
        note: what the LLM side runs against, for the command's output.
    """

    config: StratloopConfig
    llm: CandidateSource | None
    factor_graph: CandidateSource
    note: str


@contextmanager
def real_generators(
    load: ConfigLoader, *, llm_endpoint: LLMEndpoint = "scripted"
) -> Iterator[Generators]:
    """Build the real generators; a scripted endpoint serves while the block runs.

    Args:
        load: loads the environment's configuration with the given overrides.
        llm_endpoint: ``scripted`` replaces the LLM endpoint by a loopback
            OpenAI-compatible server cycling through valid specs (and enables
            the LLM side, so every strategy can be exercised); ``configured``
            asks ``llm.base_url`` as the configuration says.

    Raises:
        StratloopError: the configuration or its data cannot be loaded.
    """
    server = None
    try:
        if llm_endpoint == "scripted":
            configured = load({})
            model = configured.llm.model or "scripted-model"
            server = ScriptedOpenAIServer(
                [Reply(text) for text in scripted_specs(_SCRIPTED_REPLIES)],
                model=model,
                cycle=True,
            ).start()
            config = load(
                {"llm.enabled": True, "llm.base_url": server.base_url, "llm.model": model}
            )
            note = (
                f"LLM side: the real LLMProposer and openai client against the scripted "
                f"loopback OpenAI-compatible endpoint {server.base_url} (a rehearsal serving "
                f"valid specs, not {configured.llm.base_url or 'a configured endpoint'})"
            )
        else:
            config = load({})
            note = (
                f"LLM side: the real LLMProposer against the configured endpoint "
                f"{config.llm.base_url}"
                if config.llm.enabled and config.llm.base_url is not None
                else "LLM side: none (llm.enabled is false or llm.base_url is unset)"
            )
        parts = build_parts(
            config,
            flags=EnvFlagSource(),
            run_id=_REHEARSAL_RUN_ID,
            instance_id=instance_id(),
            spent=Usage(),
        )
        note += f"; factor graph: the real FactorGraphGenerator on `{config.data.source}`"
        yield Generators(config, parts.llm, parts.factor_graph, note)
    finally:
        if server is not None:
            server.stop()
