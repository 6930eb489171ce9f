import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stratloop.errors import ExpressionError, LLMGenerationError
from stratloop.factors import Limits
from stratloop.llm.response import ParsedReply, ReplyBounds, parse_reply

FIELDS = frozenset({"close"})
LIMITS = Limits()


def _spec(expression: str, **extra) -> str:
    return json.dumps({"expression": expression, "portfolio": {"kind": "top_n", "n": 5}, **extra})


def _parse(text: str) -> ParsedReply:
    return parse_reply(text, fields=FIELDS, limits=LIMITS)


class TestParseReply:
    def test_good_spec(self) -> None:
        """A valid spec in a fence becomes a checked strategy."""
        parsed = _parse(f"```json\n{_spec('rank(ts_mean(returns, 20))')}\n```")
        assert parsed.strategy.expression == "rank(ts_mean(returns, 20))"
        assert parsed.strategy.portfolio.kind == "top_n"
        assert parsed.rationale is None

    def test_expression_is_canonicalised(self) -> None:
        """The strategy carries the DSL's canonical text, whatever the spacing."""
        parsed = _parse(_spec("rank(  ts_mean( returns ,20 ) )"))
        assert parsed.strategy.expression == "rank(ts_mean(returns, 20))"

    def test_rationale_is_kept_apart(self) -> None:
        """An optional rationale is returned, not part of the strategy."""
        parsed = _parse(_spec("rank(returns)", rationale="momentum"))
        assert parsed.rationale == "momentum"

    def test_rationale_control_characters(self) -> None:
        """Terminal escape sequences in the rationale are neutralised before it is stored."""
        parsed = _parse(_spec("rank(returns)", rationale="a\x1b[2Jb\nc"))
        assert parsed.rationale == "a [2Jb\nc"

    @pytest.mark.parametrize("rationale", [3, ["a"], "x" * 2001])
    def test_bad_rationale(self, rationale) -> None:
        """A rationale that is not a short string is rejected."""
        with pytest.raises(LLMGenerationError, match="rationale"):
            _parse(_spec("rank(returns)", rationale=rationale))

    def test_unknown_operator(self) -> None:
        """An unknown operator is LLMGenerationError with the DSL's error chained."""
        with pytest.raises(LLMGenerationError, match="ts_meen") as caught:
            _parse(_spec("rank(ts_meen(close, 20))"))
        assert isinstance(caught.value.__cause__, ExpressionError)

    def test_unknown_field(self) -> None:
        """A field the data does not have is rejected."""
        with pytest.raises(LLMGenerationError) as caught:
            _parse(_spec("rank(volume)"))
        assert isinstance(caught.value.__cause__, ExpressionError)

    def test_window_over_limit(self) -> None:
        """A window beyond generation.max_window is rejected."""
        with pytest.raises(LLMGenerationError) as caught:
            _parse(_spec("ts_mean(close, 5000)"))
        assert isinstance(caught.value.__cause__, ExpressionError)

    def test_wrong_shape(self) -> None:
        """A spec without a portfolio names the missing field; pydantic's error is chained."""
        with pytest.raises(LLMGenerationError, match="`portfolio`") as caught:
            _parse('{"expression": "rank(returns)"}')
        assert isinstance(caught.value.__cause__, ValidationError)

    def test_extra_key(self) -> None:
        """Unknown keys are rejected, not ignored."""
        with pytest.raises(LLMGenerationError, match="`code`"):
            _parse(_spec("rank(returns)", code="print(1)"))

    def test_expression_too_long(self) -> None:
        """An expression over the bound is refused before it is parsed."""
        long = "+".join(["close"] * 300)
        with pytest.raises(LLMGenerationError, match="1000 accepted"):
            _parse(_spec(long))

    def test_custom_bounds(self) -> None:
        """The bounds are configurable."""
        with pytest.raises(LLMGenerationError, match="5 accepted"):
            parse_reply(
                _spec("rank(returns)"),
                fields=FIELDS,
                limits=LIMITS,
                bounds=ReplyBounds(max_expression_chars=5),
            )


class TestHostileReplies:
    @pytest.mark.parametrize(
        "expression",
        [
            "__import__('os').system('touch {marker}')",
            "eval(\"open('{marker}', 'w')\")",
            "close.__class__.__bases__[0].__subclasses__()",
            "exec('import os; os.system(\"touch {marker}\")')",
            "lambda: open('{marker}', 'w')",
        ],
    )
    def test_python_in_expression_is_never_run(self, tmp_path: Path, expression) -> None:
        """Python smuggled into the expression ends as a typed error; nothing runs."""
        marker = tmp_path / "pwned"
        with pytest.raises(LLMGenerationError) as caught:
            _parse(_spec(expression.format(marker=marker)))
        assert isinstance(caught.value.__cause__, ExpressionError)
        assert not marker.exists()

    def test_python_reply_is_never_run(self, tmp_path: Path) -> None:
        """A reply that is a Python program is refused as no spec."""
        marker = tmp_path / "pwned"
        with pytest.raises(LLMGenerationError):
            _parse(f"__import__('os').system('touch {marker}')")
        assert not marker.exists()

    @settings(max_examples=200, deadline=None)
    @given(st.text(max_size=300))
    def test_arbitrary_expressions(self, expression) -> None:
        """Any expression text gives a checked strategy or LLMGenerationError."""
        try:
            parsed = _parse(_spec(expression))
        except LLMGenerationError:
            return
        assert parsed.strategy.expression

    @settings(max_examples=200, deadline=None)
    @given(st.text(max_size=500))
    def test_arbitrary_replies(self, text) -> None:
        """Any reply gives a checked strategy or LLMGenerationError."""
        try:
            parsed = _parse(text)
        except LLMGenerationError:
            return
        assert parsed.strategy.expression
