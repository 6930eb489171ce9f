"""The GBNF grammar generated from the DSL: what it derives always parses and type-checks."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stratloop.acceptance.gbnf import GrammarError, parse_gbnf
from stratloop.factors import Limits, check_strategy, default_library, parse
from stratloop.llm.gbnf import GrammarShape, int_range, strategy_grammar
from stratloop.llm.response import ReplyBounds, parse_reply
from stratloop.spec import Strategy, TopN

CLOSE = frozenset({"close"})
OHLCV = frozenset({"close", "open", "high", "low", "volume"})
NO_NODE_LIMIT = Limits(max_nodes=10_000, max_depth=200)
"""The configured window limit; the node and depth limits are the parser's (see gbnf.py)."""
_GRAMMARS = {
    fields: parse_gbnf(strategy_grammar(fields, NO_NODE_LIMIT)) for fields in (CLOSE, OHLCV)
}
UNBOUNDED_TEXT = ReplyBounds(max_expression_chars=20_000, max_reply_chars=100_000)
_SMALL = Limits(max_nodes=10_000, max_depth=200, max_window=30)

GRAMMAR_FORM = [
    "returns",
    "rank(ts_mean(returns, 20)) - rank(ts_std(returns, 60))",
    "-pct_change(close, 5)",
    "close / ts_mean(close, 100)",
    "(close / ts_mean(close, 100)) - 1",
    "close / ts_mean(close, 100) - 1",
    "rank(returns) - rank(ts_std(returns, 60)) + rank(-pct_change(close, 5))",
    "returns - 2 * rank(returns)",
    "-rank(returns) * 2 - 1",
    "where((close > ts_mean(close, 50)) and (returns < 0), 1, 0)",
    "ts_mean(max(delta(close, 1), 0), 14) / ts_mean(abs(delta(close, 1)), 14)",
    "ts_rank(close, 20)",
    "-ts_zscore(close, 20)",
    "decay_linear(returns, 10)",
    "delay(pct_change(close, 231), 21)",
    "pct_change(close, 126) / ts_std(returns, 126)",
    "where(returns > 0, 1, 0)",
    "rank(returns) * 2",
    "clip(zscore(returns), -3, 3)",
    "ts_corr(close, delay(close, 5), 20)",
]


def _expression(reply: str) -> str:
    return str(json.loads(reply)["expression"])


class TestSampledReplies:
    @settings(max_examples=80, deadline=None)
    @given(seed=st.integers(0, 2**32 - 1), fields=st.sampled_from([CLOSE, OHLCV]))
    def test_every_sampled_reply_parses_and_type_checks(self, seed, fields) -> None:
        """A reply drawn from the grammar is a valid spec under the window limit."""
        rng = random.Random(seed)  # noqa: S311 - test data
        reply = _GRAMMARS[fields].sample(rng, brevity=0.5)
        assume(len(_expression(reply)) <= 4000)
        parsed = parse_reply(reply, fields=fields, limits=NO_NODE_LIMIT, bounds=UNBOUNDED_TEXT)
        assert parse(parsed.strategy.expression, limits=NO_NODE_LIMIT).size >= 1

    @settings(max_examples=30, deadline=None)
    @given(seed=st.integers(0, 2**32 - 1))
    def test_tight_limits_hold(self, seed) -> None:
        """With windows up to 30, samples keep to them."""
        grammar = parse_gbnf(strategy_grammar(CLOSE, _SMALL))
        rng = random.Random(seed)  # noqa: S311 - test data
        reply = grammar.sample(rng, brevity=0.5)
        assume(len(_expression(reply)) <= 4000)
        parse_reply(reply, fields=CLOSE, limits=_SMALL, bounds=UNBOUNDED_TEXT)

    def test_fields_the_data_lacks_never_appear(self) -> None:
        """On close-only data no sample uses open, high, low or volume."""
        rng = random.Random(7)  # noqa: S311 - test data
        for _ in range(100):
            expression = _expression(_GRAMMARS[CLOSE].sample(rng))
            assert not any(name in expression for name in ("open", "high", "low", "volume"))


class TestAcceptance:
    @pytest.mark.parametrize("expression", GRAMMAR_FORM)
    def test_common_expressions_are_accepted(self, expression) -> None:
        """Strategies as researchers write them, chains included, are derivable."""
        check_strategy(Strategy(expression=expression, portfolio=TopN(n=5)), fields=CLOSE,
                       limits=Limits())
        reply = json.dumps(
            {"expression": expression, "portfolio": {"kind": "top_n", "n": 5,
                                                     "rebalance_days": 21}}
        )
        assert _GRAMMARS[CLOSE].accepts(reply)

    @pytest.mark.parametrize(
        "expression",
        [
            "rank(close)",
            "close",
            "close + volume",
            "ts_mean(returns, 0)",
            "ts_mean(returns, 253)",
            "rank(ts_mean(returns, n))",
            "returns > 0",
            "__import__('os')",
        ],
    )
    def test_invalid_expressions_are_not(self, expression) -> None:
        """Levels as signals, unit clashes, bad windows, conditions and code are not derivable."""
        reply = json.dumps(
            {"expression": expression, "portfolio": {"kind": "top_n", "n": 5,
                                                     "rebalance_days": 21}}
        )
        assert not _GRAMMARS[OHLCV].accepts(reply)

    @settings(max_examples=60, deadline=None)
    @given(seed=st.integers(0, 2**32 - 1), index=st.integers(0, 14))
    def test_every_library_factor_is_derivable(self, seed, index) -> None:
        """Each built-in template, at any parameters in its ranges, in canonical text."""
        template = default_library().templates[index]
        values = template.sample_values(np.random.default_rng(seed))
        expression = parse(template.render(values)).text
        reply = json.dumps(
            {"expression": expression,
             "portfolio": {"kind": "top_n", "n": 5, "rebalance_days": 21}}
        )
        assert _GRAMMARS[CLOSE].accepts(reply), expression

    def test_shapes_the_schema_refuses_are_not_derivable(self) -> None:
        """A quantile of 0.9 or a top_n of 0 cannot be sampled."""
        grammar = _GRAMMARS[CLOSE]
        for portfolio in ({"kind": "long_short", "quantile": 0.9, "rebalance_days": 21},
                          {"kind": "top_n", "n": 0, "rebalance_days": 21}):
            reply = json.dumps({"expression": "returns", "portfolio": portfolio})
            assert not grammar.accepts(reply)

    def test_top_n_is_bounded_by_the_shape(self) -> None:
        """GrammarShape.max_n caps the top-N count."""
        grammar = parse_gbnf(strategy_grammar(CLOSE, Limits(), GrammarShape(max_n=20)))
        reply = (
            '{"expression": "returns", "portfolio": {"kind": "top_n", "n": %d, '
            '"rebalance_days": 21}}'
        )
        assert grammar.accepts(reply % 20)
        assert not grammar.accepts(reply % 21)


class TestIntRange:
    @settings(max_examples=100, deadline=None)
    @given(low=st.integers(0, 3000), span=st.integers(0, 3000), probe=st.integers(0, 7000))
    def test_matches_exactly_the_range(self, low, span, probe) -> None:
        """int_range(low, high) accepts an integer's decimal text iff low <= n <= high."""
        high = low + span
        grammar = parse_gbnf(f"root ::= {int_range(low, high)}\n")
        assert grammar.accepts(str(probe)) == (low <= probe <= high)
        assert not grammar.accepts("0" + str(probe))

    def test_rejects_a_reversed_range(self) -> None:
        """A reversed range is a programming error, said plainly."""
        with pytest.raises(ValueError, match="low <= high"):
            int_range(5, 4)


class TestInterpreter:
    def test_bad_grammars_are_errors(self) -> None:
        """Undefined rules, a missing root and unterminated literals are refused."""
        for text in ("root ::= foo\n", 'start ::= "a"\n', 'root ::= "a\n'):
            with pytest.raises(GrammarError):
                parse_gbnf(text)

    def test_repetitions_and_classes(self) -> None:
        """{m,n}, negated classes, escapes and multi-line groups behave as in llama.cpp."""
        grammar = parse_gbnf(
            'root ::= "a"{2,3} [^x\\n] (\n  "b" |\n  "c"\n)* # comment\n'
        )
        assert grammar.accepts("aay")
        assert grammar.accepts("aaaybcb")
        assert not grammar.accepts("ay")
        assert not grammar.accepts("aax")
        assert not grammar.accepts("aaaaz")
