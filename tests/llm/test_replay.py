"""A real model's recorded replies (``make llm-e2e``), replayed through the scripted server."""

from __future__ import annotations

from pathlib import Path

import pytest
from llm_helpers import llm_context

from stratloop.acceptance.llm_server import ScriptedOpenAIServer, load_script
from stratloop.errors import LLMGenerationError

RECORDINGS = sorted((Path(__file__).parents[1] / "fixtures" / "llm_replay").glob("*.yaml"))


@pytest.mark.parametrize("recording", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_a_recorded_run_replays(recording, make_config, make_llm_proposer) -> None:
    """Every recorded reply is served again; with the grammar, each is valid first time."""
    settings, steps = load_script(recording)
    mode = recording.stem.rsplit(".", 1)[-1]
    with ScriptedOpenAIServer(steps, model=settings.model) as server:
        config = make_config(base_url=server.base_url, structured_output=mode, timeout_s=5.0)
        proposer = make_llm_proposer(config)
        iteration = 0
        while server.remaining:
            try:
                proposer.propose(llm_context(config, iteration=iteration))
            except LLMGenerationError:
                assert mode != "grammar", "a grammar-constrained reply was rejected"
            iteration += 1
        calls = proposer.budget.drain_calls()
    if mode == "grammar":
        assert all(c.outcome == "accepted" for c in calls if c.purpose == "propose")
