"""The LLM and the persistent factor library: the prompt lists it, replies may use it."""

from __future__ import annotations

import json

import pytest

from stratloop.errors import LLMGenerationError
from stratloop.factors import Limits
from stratloop.factors.references import FactorDefinitions
from stratloop.llm.prompts import saved_factors_section
from stratloop.llm.response import parse_reply

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
