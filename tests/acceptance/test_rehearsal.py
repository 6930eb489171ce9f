from __future__ import annotations

import re
from pathlib import Path

import pytest

from stratloop.acceptance.rehearsal import real_generators
from stratloop.environments import load_environment
from stratloop.errors import ConfigConflictError, LLMUnavailableError
from stratloop.factors import FactorGraphGenerator
from stratloop.flags import Flags
from stratloop.generation import GenerationContext, StrategyFactory, generate_iteration
from stratloop.llm.proposer import LLMProposer

ROOT = Path(__file__).resolve().parents[2]


def _loader(name):
    env = load_environment(name, root=ROOT)
    return lambda overrides: env.load_config(overrides=overrides)


class TestRealGenerators:
    def test_scripted_endpoint_serves_the_real_proposer(self):
        """The LLM side is the real proposer asking a loopback server; its specs are valid."""
        with real_generators(_loader("staging")) as made:
            assert isinstance(made.llm, LLMProposer)
            assert isinstance(made.factor_graph, FactorGraphGenerator)
            assert made.config.llm.base_url.startswith("http://127.0.0.1:")
            assert made.config.llm.base_url != "http://127.0.0.1:11434/v1"
            assert "scripted loopback" in made.note
            methods = {
                generate_iteration(
                    GenerationContext.create(made.config, i),
                    Flags(),
                    llm=made.llm,
                    factor_graph=made.factor_graph,
                ).method_used
                for i in range(12)
            }
        assert methods == {"llm", "factor_graph"}

    def test_the_scripted_server_stops_with_the_block(self):
        """After the block the loopback endpoint no longer answers: the LLM call fails, typed."""
        with real_generators(_loader("staging")) as made:
            llm = made.llm
            config = made.config
        ctx = GenerationContext.create(config, 0)
        ctx.rng.random()
        with pytest.raises(LLMUnavailableError, match=re.escape(config.llm.base_url)):
            llm.propose(ctx)

    def test_configured_endpoint_leaves_a_disabled_llm_out(self, tmp_path):
        """With the configuration's own endpoint and the LLM off, there is no LLM side to inject."""
        (tmp_path / "environments").mkdir()
        (tmp_path / "configs").mkdir()
        (tmp_path / "configs" / "fg.yaml").write_text(
            "version: 1\ngeneration:\n  use_factor_graph: true\n  innovation_rate: 0\n"
            "llm:\n  enabled: false\n", encoding="utf-8"
        )
        (tmp_path / "environments" / "fg.yaml").write_text(
            "config: configs/fg.yaml\ndata_source: sp500-20\nruns_dir: runs\n"
            "audit_path: audit.jsonl\n", encoding="utf-8"
        )
        env = load_environment("fg", root=tmp_path)
        load = lambda overrides: env.load_config(overrides=overrides)  # noqa: E731
        with real_generators(load, llm_endpoint="configured") as made:
            assert made.llm is None
            assert "none" in made.note
            strategy = StrategyFactory(made.llm, made.factor_graph).create(made.config)
            assert strategy.name == "FactorGraphStrategy"
            mandated = made.config.model_copy(
                update={"generation": made.config.generation.model_copy(
                    update={"use_factor_graph": False}
                )}
            )
            with pytest.raises(ConfigConflictError, match="llm_required_but_missing"):
                StrategyFactory(made.llm, made.factor_graph).create(mandated)
