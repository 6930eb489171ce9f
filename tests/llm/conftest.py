"""Fixtures of the LLM tests: a scripted loopback server and configs pointing at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stratloop.acceptance.llm_server import ScriptedOpenAIServer
from stratloop.config.models import LLMConfig
from stratloop.factors import Limits
from stratloop.llm.client import LLMClient
from stratloop.llm.proposer import LLMProposer


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    """A started scripted server with an empty script; tests extend it."""
    with ScriptedOpenAIServer() as running:
        yield running


@pytest.fixture
def make_config(server: ScriptedOpenAIServer) -> Callable[..., LLMConfig]:
    """Build an ``llm`` section aimed at the scripted server, with overrides."""

    def build(**overrides: Any) -> LLMConfig:
        values: dict[str, Any] = {
            "enabled": True,
            "base_url": server.base_url,
            "model": "scripted-model",
            "api_key_env": "TEST_LLM_KEY",
            "timeout_s": 5.0,
            "max_retries": 2,
        }
        values.update(overrides)
        return LLMConfig(**values)

    return build


@pytest.fixture
def make_llm_proposer() -> Iterator[Callable[..., Any]]:
    """Build proposers on close-only data over real clients; their connections close after."""
    clients: list[LLMClient] = []

    def build(config: LLMConfig, limits: Limits | None = None, **kwargs: Any) -> LLMProposer:
        client = LLMClient(config, environ={}, sleep=lambda _: None)
        clients.append(client)
        return LLMProposer(
            client, limits=limits or Limits(), fields=frozenset({"close"}), **kwargs
        )

    yield build
    for client in clients:
        client.close()

