"""Structured output: the schema and grammar requests, the server's checks, the auto probe."""

from __future__ import annotations

import json

import httpx
import pytest
from llm_helpers import llm_context

from stratloop.acceptance.llm_server import Reply, Sampled, ScriptedOpenAIServer
from stratloop.errors import LLMUnavailableError
from stratloop.factors import Limits
from stratloop.llm.structured import PROBE_ANSWER, strategy_schema

GOOD = json.dumps(
    {"expression": "rank(ts_mean(returns, 20))", "portfolio": {"kind": "top_n", "n": 5,
                                                               "rebalance_days": 21}}
)
SHAPE_ERROR = json.dumps(
    {"expression": "rank(returns)", "portfolio": {"kind": "long_short", "quantile": 0.9}}
)


def _post(server: ScriptedOpenAIServer, body: dict) -> tuple[int, dict]:
    response = httpx.post(server.base_url + "/chat/completions", json=body, timeout=5)
    return response.status_code, response.json()


class TestRequests:
    def test_json_schema_sends_the_spec_schema(self, server, make_config, make_llm_proposer):
        """json_schema mode sends response_format with the strategy's schema and rationale."""
        server.extend([Reply(GOOD)])
        config = make_config(structured_output="json_schema")
        make_llm_proposer(config).propose(llm_context(config))
        fmt = server.completion_requests[0].body["response_format"]
        assert fmt["type"] == "json_schema"
        assert fmt["json_schema"]["schema"] == strategy_schema()
        assert "rationale" in fmt["json_schema"]["schema"]["properties"]
        assert "grammar" not in server.completion_requests[0].body

    def test_grammar_mode_samples_only_valid_strategies(
        self, server, make_config, make_llm_proposer
    ):
        """A grammar-constrained reply is a valid spec first time; the call record says so.

        The grammar counts no nodes (the parser's limit, see docs/llm.md), so the
        node limit is lifted here.
        """
        server.extend([Sampled(seed) for seed in range(20)])
        config = make_config(structured_output="grammar")
        proposer = make_llm_proposer(config, limits=Limits(max_nodes=10_000, max_depth=200))
        for seed in range(20):
            candidate = proposer.propose(llm_context(config, iteration=seed))
            assert candidate.lineage.params["replies"] == 1
            assert candidate.lineage.params["structured_output"] == "grammar"
        assert all("grammar" in r.body for r in server.completion_requests)
        calls = proposer.budget.drain_calls()
        assert [c.outcome for c in calls] == ["accepted"] * 20
        assert {c.structured_output for c in calls} == {"grammar"}

    def test_none_sends_neither(self, server, make_config, make_llm_proposer):
        """The default sends no constraint at all."""
        server.extend([Reply(GOOD)])
        config = make_config()
        make_llm_proposer(config).propose(llm_context(config))
        body = server.completion_requests[0].body
        assert "grammar" not in body
        assert "response_format" not in body


class TestServerChecks:
    def test_a_grammar_that_does_not_parse_is_a_400(self, server):
        """As llama.cpp: 'Failed to parse grammar', and no script step is used."""
        server.extend([Reply("x")])
        status, body = _post(server, {"messages": [], "grammar": 'root ::= "a'})
        assert status == 400
        assert "Failed to parse grammar" in body["error"]["message"]
        assert server.remaining == 1

    def test_a_reply_off_the_grammar_is_the_scripts_mistake(self, server):
        """A constrained server could not have sent it: a 500 that says so."""
        server.extend([Reply("b")])
        status, body = _post(server, {"messages": [], "grammar": 'root ::= "a"'})
        assert status == 500
        assert "does not match the request's grammar" in body["error"]["message"]

    def test_a_reply_off_the_schema_is_the_scripts_mistake(self, server):
        """With response_format enforced, a shape error cannot be served."""
        server.extend([Reply(SHAPE_ERROR)])
        fmt = {"type": "json_schema", "json_schema": {"name": "s", "schema": strategy_schema()}}
        status, body = _post(server, {"messages": [], "response_format": fmt})
        assert status == 500
        assert "quantile" in body["error"]["message"]

    def test_a_malformed_response_format_is_a_400(self, server):
        """A json_schema without a schema is refused, as OpenAI refuses it."""
        fmt = {"type": "json_schema", "json_schema": {"name": "s"}}
        status, _ = _post(server, {"messages": [], "response_format": fmt})
        assert status == 400

    def test_a_rejecting_server_names_the_setting(self, make_config, make_llm_proposer):
        """Sending a grammar to a server that refuses it is an error naming the fix."""
        with ScriptedOpenAIServer([Reply(GOOD)], grammar="reject") as rejecting:
            config = make_config(base_url=rejecting.base_url, structured_output="grammar")
            with pytest.raises(LLMUnavailableError, match=r"llm\.structured_output=grammar"):
                make_llm_proposer(config).propose(llm_context(config))


class TestAutoProbe:
    def test_a_grammar_server_gets_the_grammar(self, server, make_config, make_llm_proposer):
        """The probe finds the grammar honoured; the run uses it and records the probe."""
        server.extend([Sampled(), Sampled(3)])
        config = make_config(structured_output="auto")
        proposer = make_llm_proposer(config)
        proposer.propose(llm_context(config))
        assert proposer.probe_result is not None
        assert proposer.probe_result.mode == "grammar"
        assert proposer.structured_output == "grammar"
        probe_body = server.completion_requests[0].body
        assert PROBE_ANSWER in probe_body["grammar"]
        calls = proposer.budget.drain_calls()
        assert [(c.purpose, c.outcome) for c in calls] == [
            ("probe", "probe"), ("propose", "accepted")
        ]

    def test_a_server_ignoring_grammars_gets_the_schema(self, make_config, make_llm_proposer):
        """Grammar ignored, schema honoured: json_schema, and the result says what it found."""
        script = [Reply("hello"), Reply(json.dumps({"probe": PROBE_ANSWER})), Reply(GOOD)]
        with ScriptedOpenAIServer(script, grammar="ignore") as ignoring:
            config = make_config(base_url=ignoring.base_url, structured_output="auto")
            proposer = make_llm_proposer(config)
            proposer.propose(llm_context(config))
            result = proposer.probe_result
            assert (result.mode, result.grammar, result.json_schema) == (
                "json_schema", "ignored", "honoured"
            )
            assert "response_format" in ignoring.completion_requests[2].body
            assert "using json_schema (grammar ignored" in result.describe()

    def test_a_plain_server_gets_nothing_and_it_is_recorded(
        self, make_config, make_llm_proposer
    ):
        """Both refused: mode none, with the refusals in the result (no silent fallback)."""
        with ScriptedOpenAIServer(
            [Reply(GOOD)], grammar="reject", json_schema="reject"
        ) as plain:
            config = make_config(base_url=plain.base_url, structured_output="auto")
            proposer = make_llm_proposer(config)
            proposer.propose(llm_context(config))
            result = proposer.probe_result
            assert result.mode == "none"
            assert result.grammar.startswith("rejected")
            assert result.json_schema.startswith("rejected")

    def test_the_probe_runs_once_per_run(self, server, make_config, make_llm_proposer):
        """Later calls reuse the finding."""
        server.extend([Sampled(), Sampled(1), Sampled(2)])
        config = make_config(structured_output="auto")
        proposer = make_llm_proposer(config)
        proposer.propose(llm_context(config, iteration=1))
        proposer.propose(llm_context(config, iteration=2))
        assert len(server.completion_requests) == 3
