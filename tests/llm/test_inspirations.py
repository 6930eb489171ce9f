"""What each call is shown: inspirations per call, quoted expressions, every field."""

from __future__ import annotations

import json

from llm_helpers import llm_context

from stratloop.acceptance.llm_server import Reply
from stratloop.generation.context import Feedback
from stratloop.llm.proposer import llm_rng, sample_inspirations

GOOD = json.dumps({"expression": "rank(returns)", "portfolio": {"kind": "top_n", "n": 5}})
ARCHIVE = (
    *(Feedback(i, f"rank(ts_mean(returns, {5 + i}))", "llm", 0.1 * i) for i in range(8)),
    Feedback(8, "ts_rank(close, 20)", "factor_graph", 0.2),
    Feedback(9, "-ts_std(returns, 60)", "factor_graph", 0.3),
    Feedback(10, "pct_change(close, 120) / ts_std(returns, 120)", "factor_graph", 0.25),
    *(Feedback(11 + i, f"rank(fo{i}(close))", "llm", None, f"unknown function 'fo{i}'")
      for i in range(5)),
)


class TestSampling:
    def test_each_call_of_a_batch_sees_different_inspirations(self) -> None:
        """Same archive, different iterations: the shown sets differ; same iteration: equal."""
        shown = {
            iteration: sample_inspirations(ARCHIVE, llm_rng(42, iteration))
            for iteration in range(4)
        }
        assert len({(s.top, s.diverse, s.failures) for s in shown.values()}) > 1
        assert sample_inspirations(ARCHIVE, llm_rng(42, 2)) == shown[2]

    def test_groups_hold_what_they_say(self) -> None:
        """Top from the best six, diverse from other families, failures with errors."""
        best = sorted((f for f in ARCHIVE if f.score is not None), key=lambda f: -f.score)[:6]
        for iteration in range(20):
            picked = sample_inspirations(ARCHIVE, llm_rng(1, iteration))
            assert len(picked.top) == 2
            assert set(picked.top) <= set(best)
            assert all(item.error for item in picked.failures)
            assert len(picked.failures) == 2
            assert not set(picked.diverse) & set(picked.top)
            families = {item.expression.split("(")[0] for item in picked.diverse}
            assert len(families) == len(picked.diverse)

    def test_an_empty_archive_shows_nothing(self) -> None:
        """The first iteration has no inspirations."""
        picked = sample_inspirations((), llm_rng(0, 0))
        assert (picked.top, picked.diverse, picked.failures) == ((), (), ())


class TestPrompt:
    def test_the_prompt_quotes_lists_fields_and_fills_templates(
        self, server, make_config, make_llm_proposer
    ) -> None:
        """Expressions as JSON strings, every field marked, templates at their defaults."""
        server.extend([Reply(GOOD)])
        config = make_config()
        feedback = (Feedback(3, "rank(delta(close, 5))", "factor_graph", 0.41),)
        make_llm_proposer(config).propose(llm_context(config, feedback=feedback))
        system, user = (m["content"] for m in server.completion_requests[0].messages)
        assert '"expression": "rank(delta(close, 5))"' in user
        assert "->" not in user
        for name in ("open", "high", "low", "volume"):
            assert f"- {name}: NOT in this data" in system
        assert "- close: closing price" in system
        assert "{n}" not in system
        assert "{lookback}" not in system
        assert "`-pct_change(close, 5)`" in system
        assert "do not propose it" in system

    def test_calls_of_a_batch_get_different_prompts(
        self, server, make_config, make_llm_proposer
    ) -> None:
        """Four iterations from the same feedback send four different user messages."""
        server.extend([Reply(GOOD)] * 4)
        config = make_config()
        proposer = make_llm_proposer(config)
        for iteration in range(4):
            proposer.propose(llm_context(config, iteration=iteration, feedback=ARCHIVE))
        users = {r.messages[1]["content"] for r in server.completion_requests}
        assert len(users) > 1
