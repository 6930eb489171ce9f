"""Model ensembles: the per-call choice follows the weights, and each call goes to its model."""

from __future__ import annotations

import json
import math

import pytest
from llm_helpers import llm_context

from stratloop.acceptance.llm_server import Reply, ScriptedOpenAIServer
from stratloop.config import load_config
from stratloop.config.dict_validator import validate_dict
from stratloop.config.models import ModelChoice, StratloopConfig
from stratloop.errors import ConfigValidationError
from stratloop.llm.proposer import choose_model, llm_rng

GOOD = json.dumps({"expression": "rank(returns)", "portfolio": {"kind": "top_n", "n": 5}})
Z_999 = 3.2905
"""Two-sided 99.9% quantile of the standard normal."""


class TestChoice:
    @pytest.mark.parametrize("weights", [(3.0, 1.0), (1.0, 1.0, 2.0), (0.1, 0.9)])
    def test_follows_the_weights_over_2000_calls(self, weights) -> None:
        """Each model's count lies in its binomial 99.9% interval (seeded, so exact)."""
        models = tuple(ModelChoice(model=f"m{i}", weight=w) for i, w in enumerate(weights))
        n = 2000
        counts = dict.fromkeys((m.model for m in models), 0)
        for call in range(n):
            counts[choose_model(models, llm_rng(42, call)).model] += 1
        total = sum(weights)
        for model, weight in zip(models, weights, strict=True):
            p = weight / total
            half = Z_999 * math.sqrt(n * p * (1 - p))
            assert abs(counts[model.model] - n * p) <= half, (model.model, counts)

    def test_the_same_seed_gives_the_same_choices(self) -> None:
        """Choices are a function of (seed, iteration): a rerun asks the same models."""
        models = (ModelChoice(model="a", weight=1.0), ModelChoice(model="b", weight=1.0))
        first = [choose_model(models, llm_rng(7, i)).model for i in range(50)]
        again = [choose_model(models, llm_rng(7, i)).model for i in range(50)]
        assert first == again
        assert len(set(first)) == 2


class TestRouting:
    def test_each_call_asks_its_model_at_its_endpoint(self, server, make_config,
                                                      make_llm_proposer) -> None:
        """A model with its own base_url is asked there; the record names model and price."""
        with ScriptedOpenAIServer([Reply(GOOD)] * 40) as other:
            config = make_config(
                cost_per_1k_tokens=1.0,
                models=(
                    ModelChoice(model="small", weight=1.0),
                    ModelChoice(model="big", weight=1.0, base_url=other.base_url,
                                cost_per_1k_tokens=10.0),
                ),
            )
            server.extend([Reply(GOOD)] * 40)
            proposer = make_llm_proposer(config)
            for iteration in range(20):
                candidate = proposer.propose(llm_context(config, iteration=iteration))
                assert candidate.lineage.params["model"] in {"small", "big"}
            here = {r.body["model"] for r in server.completion_requests}
            there = {r.body["model"] for r in other.completion_requests}
            assert (here, there) == ({"small"}, {"big"})
            calls = proposer.budget.drain_calls()
            costs = {c.model: c.cost / c.tokens * 1000 for c in calls}
            assert costs == {"small": pytest.approx(1.0), "big": pytest.approx(10.0)}


DOC: dict = {
    "version": 1,
    "generation": {"use_factor_graph": False, "innovation_rate": 0},
    "llm": {
        "enabled": True,
        "base_url": "http://127.0.0.1:1/v1",
        "model": "m",
        "models": [{"model": "a", "weight": 2}, {"model": "b"}],
    },
}


class TestConfig:

    def test_both_validators_build_the_same_ensemble(self) -> None:
        """The Phase 1 dict validator and the Pydantic models agree on llm.models."""
        typed = StratloopConfig.model_validate(DOC)
        assert validate_dict(DOC) == typed
        assert [m.model for m in typed.llm.models] == ["a", "b"]
        assert typed.llm.models[0].weight == 2.0

    @pytest.mark.parametrize(
        ("models", "path"),
        [
            ([{"model": "a", "weight": 0}], "llm.models[].weight"),
            ([{"model": "a", "wieght": 1}], "llm.models[].wieght"),
            ("a", "llm.models"),
            ([{"weight": 1}], "llm.models[].model"),
        ],
    )
    def test_bad_members_name_the_field(self, models, path) -> None:
        """Each bad member is an issue at its path, on the dict validator's path too."""
        doc = {**DOC, "llm": {**DOC["llm"], "models": models}}
        with pytest.raises(ConfigValidationError) as caught:
            validate_dict(doc)
        assert path in str(caught.value)

    def test_a_yaml_file_loads(self, tmp_path) -> None:
        """The documented YAML form loads."""
        path = tmp_path / "c.yaml"
        path.write_text(
            "version: 1\n"
            "generation: {use_factor_graph: false, innovation_rate: 0}\n"
            "llm:\n  enabled: true\n  base_url: http://127.0.0.1:1/v1\n  model: m\n"
            "  structured_output: auto\n"
            "  models:\n    - {model: a, weight: 3}\n"
            "    - {model: b, weight: 1, cost_per_1k_tokens: 0.5}\n"
        )
        config = load_config(path)
        assert [m.weight for m in config.llm.models] == [3.0, 1.0]
        assert config.llm.structured_output == "auto"
