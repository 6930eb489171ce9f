import contextlib

import pytest
from factor_strategies import any_exprs
from hypothesis import given, settings
from hypothesis import strategies as st

from stratloop.errors import ExpressionError, ExpressionLimitError, ExpressionSyntaxError
from stratloop.factors import Binary, Call, Field, Limits, Neg, Number, parse
from stratloop.factors.grammar import tokenize

ALPHABET = st.sampled_from(list("abcdelorstnw_0123456789.e+-*/<>=!(), \t&|^[")) | st.sampled_from(
    ["close", "returns", "rank", "ts_mean", "and", "or", "not", "<=", "==", "1e999"]
)


class TestParse:
    def test_canonical_text(self):
        """Whitespace and redundant parentheses disappear from the canonical text."""
        assert str(parse("rank( ( ts_mean(returns,20) ) )-1")) == "rank(ts_mean(returns, 20)) - 1"

    def test_precedence(self):
        """* binds tighter than +, and infix operators are left-associative."""
        assert parse("close + close * 2") == Binary(
            "+", Field("close"), Binary("*", Field("close"), Number(2))
        )
        assert str(parse("close - (close - 1)")) == "close - (close - 1)"
        assert str(parse("(close - close) - 1")) == "close - close - 1"

    def test_negative_literal_folds(self):
        """A minus before a literal is part of the literal."""
        assert parse("-2") == Number(-2.0)
        assert parse("-(2)") == Number(-2.0)
        assert parse("-close") == Neg(Field("close"))

    def test_neg_of_literal_is_rejected_at_construction(self):
        """Neg(Number(2)) would print like Number(-2), so it cannot be built."""
        with pytest.raises(ValueError, match="Number"):
            Neg(Number(2.0))

    def test_calls_and_numbers(self):
        """Calls keep their arguments; numbers print canonically."""
        expr = parse("clip(close, -1.5, 2.0e1)")
        assert expr == Call("clip", (Field("close"), Number(-1.5), Number(20)))
        assert str(expr) == "clip(close, -1.5, 20)"

    def test_key_is_stable_sha256(self):
        """The key is the sha256 of the canonical text, equal for equal expressions."""
        assert parse("close+1").key == parse("close + 1").key
        assert len(parse("close").key) == 64
        assert parse("close + 1").key != parse("close + 2").key

    def test_derived_properties(self):
        """Size, depth, fields and lookback come from the tree."""
        expr = parse("rank(ts_mean(returns, 20)) - rank(ts_std(returns, 60)) + ts_rank(close, 10)")
        assert expr.size == 13
        assert expr.depth == 5
        assert expr.fields == frozenset({"returns", "close"})
        assert expr.lookback == 60
        assert parse("delay(ts_mean(close, 5), 3)").lookback == 7

    @given(any_exprs)
    def test_round_trip(self, expr):
        """parse(str(e)) == e for every tree of every node kind."""
        assert parse(str(expr), limits=Limits(10_000, 200, 10_000)) == expr

    @settings(max_examples=300)
    @given(st.lists(ALPHABET, max_size=30).map("".join))
    def test_random_text_never_crashes(self, text):
        """Arbitrary text parses or raises one of the typed expression errors."""
        with contextlib.suppress(ExpressionError):
            parse(text)


class TestErrors:
    def test_unknown_function_suggests(self):
        """A misspelt function gets a did-you-mean, a position and the token."""
        with pytest.raises(ExpressionSyntaxError) as info:
            parse("rank(ts_maen(close, 5))")
        assert info.value.position == 5
        assert info.value.token == "ts_maen"  # noqa: S105 - a DSL token, not a secret
        assert info.value.suggestion == "did you mean ts_mean?"
        assert "did you mean ts_mean?" in str(info.value)

    def test_unknown_field_suggests(self):
        """A misspelt field suggests the field."""
        with pytest.raises(ExpressionSyntaxError, match="did you mean close"):
            parse("clsoe + 1")

    @pytest.mark.parametrize(
        ("text", "needle"),
        [
            ("close = 1", "use =="),
            ("close & close", "use and"),
            ("close ^ 2", "no power operator"),
            ("", "empty"),
            ("close +", "end of input"),
            ("(close", "expected '\\)'"),
            ("close close", "after a complete expression"),
            ("rank(close,)", "expected a number"),
            ("1e999 + close", "too large"),
        ],
    )
    def test_messages(self, text, needle):
        """Each syntax error says what went wrong."""
        with pytest.raises(ExpressionSyntaxError, match=needle):
            parse(text)

    def test_node_limit(self):
        """More nodes than max_nodes is a limit error."""
        with pytest.raises(ExpressionLimitError, match="more than 5 nodes"):
            parse("close + close + close + close", limits=Limits(max_nodes=5))

    def test_depth_limit_bounds_recursion(self):
        """Deep nesting is a limit error, never a RecursionError."""
        with pytest.raises(ExpressionLimitError, match="deeper"):
            parse("(" * 5000 + "close" + ")" * 5000)
        with pytest.raises(ExpressionLimitError, match="deeper"):
            parse("abs(" * 20 + "close" + ")" * 20, limits=Limits(max_depth=12))
        with pytest.raises(ExpressionLimitError):
            parse("-" * 5000 + "close")

    def test_long_chain_is_bounded(self):
        """A long flat chain hits the depth limit as it grows."""
        with pytest.raises(ExpressionLimitError):
            parse(" + ".join(["close"] * 300), limits=Limits(max_nodes=10_000, max_depth=50))


class TestTokenize:
    def test_tokens(self):
        """Word operators are operators; positions are kept."""
        tokens = tokenize("not close<=1.5e-3")
        assert [(t.kind, t.text, t.position) for t in tokens] == [
            ("op", "not", 0),
            ("name", "close", 4),
            ("op", "<=", 9),
            ("number", "1.5e-3", 11),
            ("end", "", 17),
        ]
