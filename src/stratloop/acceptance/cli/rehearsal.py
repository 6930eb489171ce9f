"""Options and helpers of the commands that run the real generators (shadow, strategy checks)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractContextManager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stratloop.cli._app import console
from stratloop.flags import EnvFlagSource

if TYPE_CHECKING:
    from stratloop.acceptance.rehearsal import Generators
    from stratloop.config.models import StratloopConfig

__all__ = ["Endpoint", "LLMEndpointOption", "OutputOption", "generators", "write_json"]

OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Also write the report as JSON here.")
]

class Endpoint(str, Enum):
    """Which endpoint the real LLM proposer asks."""

    scripted = "scripted"
    configured = "configured"


LLMEndpointOption = Annotated[
    Endpoint,
    typer.Option(
        "--llm-endpoint",
        help="scripted: the real LLM proposer asks a loopback scripted OpenAI-compatible "
        "server serving valid specs (a rehearsal); configured: it asks llm.base_url.",
    ),
]


def generators(
    environment: str, endpoint: Endpoint, overrides: Mapping[str, Any] | None = None
) -> AbstractContextManager[Generators]:
    """The real generators on ``environment``'s configuration, under the current flags.

    Args:
        environment: the ``--environment`` name.
        endpoint: which endpoint the LLM proposer asks.
        overrides: extra configuration overrides (dotted field paths).
    """
    from stratloop.acceptance.rehearsal import (  # noqa: PLC0415 - numpy; keep --help fast
        real_generators,
    )
    from stratloop.environments import load_environment  # noqa: PLC0415 - pydantic; --help fast

    env = load_environment(environment)
    flags = EnvFlagSource().current()
    fixed = dict(overrides or {})

    def load(extra: Mapping[str, Any]) -> StratloopConfig:
        return env.load_config(flags=flags, overrides={**fixed, **extra})

    return real_generators(
        load, llm_endpoint="scripted" if endpoint is Endpoint.scripted else "configured"
    )


def write_json(output: Path | None, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as JSON to ``output`` when it is given."""
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {output}")
