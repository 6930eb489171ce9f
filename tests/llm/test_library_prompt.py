"""The LLM and the persistent factor library: the prompt lists it, replies may use it."""

from __future__ import annotations

import json
import random

import pytest

from stratloop.acceptance.gbnf import parse_gbnf
from stratloop.errors import LLMGenerationError
from stratloop.factors import Limits
from stratloop.factors.references import FactorDefinitions
from stratloop.llm.gbnf import strategy_grammar
from stratloop.llm.prompts import saved_factors_section
from stratloop.llm.response import ReplyBounds, parse_reply

DEFS = FactorDefinitions({"mom": "pct_change(close, 20)", "calm": "-ts_std(returns, 60)"})
FIELDS = frozenset({"close"})


def _reply(expression: str) -> str:
    spec = {"expression": expression, "portfolio": {"kind": "top_n", "n": 5}}
    return f"```json\n{json.dumps(spec)}\n```"


class TestLibraryPrompt:
    def test_the_prompt_lists_each_factor_with_its_expression(self):
        """Every saved factor appears by name with its expression, and how to use it."""
        text = saved_factors_section(DEFS)
        assert "| `mom` | `pct_change(close, 20)` |" in text
        assert "| `calm` | `-ts_std(returns, 60)` |" in text
        assert 'factor("calm")' in text

    def test_no_library_adds_nothing(self):
        """Without saved factors the prompt is exactly as before."""
        assert saved_factors_section(None) == ""
        assert saved_factors_section(FactorDefinitions({})) == ""


class TestLibraryReplies:
    def test_a_reply_may_use_a_saved_factor(self):
        """``factor("mom")`` in a reply resolves; the spec carries the inlined expression."""
        parsed = parse_reply(
            _reply('rank(factor("mom")) - rank(factor("calm"))'),
            fields=FIELDS,
            limits=Limits(),
            factors=DEFS,
        )
        assert parsed.strategy.expression == (
            "rank(pct_change(close, 20)) - rank(-ts_std(returns, 60))"
        )

    def test_an_unknown_factor_is_a_repairable_error(self):
        """A name the library lacks is a rejected reply that lists the known names."""
        with pytest.raises(LLMGenerationError, match="known: calm, mom"):
            parse_reply(
                _reply('rank(factor("value"))'), fields=FIELDS, limits=Limits(), factors=DEFS
            )


class TestLibraryGrammar:
    def test_the_grammar_offers_saved_factors_and_its_samples_check(self):
        """Constrained decoding may write factor('name'); every sample still parses and checks."""
        grammar = parse_gbnf(
            strategy_grammar(FIELDS, Limits(max_nodes=10_000, max_depth=200), saved=DEFS.names)
        )
        reply = json.dumps(
            {
                "expression": "rank(factor('mom')) - factor('calm')",
                "portfolio": {"kind": "top_n", "n": 5, "rebalance_days": 21},
            }
        )
        assert grammar.accepts(reply)
        assert not grammar.accepts(reply.replace("mom", "value"))
        rng = random.Random(3)  # noqa: S311 - test data
        used = 0
        for _ in range(200):
            sample = grammar.sample(rng, brevity=0.5)
            if len(sample) > 4000:
                continue
            used += "factor(" in sample
            parse_reply(
                sample,
                fields=FIELDS,
                limits=Limits(max_nodes=10_000, max_depth=200),
                bounds=ReplyBounds(max_expression_chars=20_000, max_reply_chars=100_000),
                factors=DEFS,
            )
        assert used > 0
