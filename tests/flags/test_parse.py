from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratloop.errors import FlagError, FlagSourceError
from stratloop.flags.parse import parse_flag, parse_percent

_TRUE = ["true", "1", "yes", "on"]
_FALSE = ["false", "0", "no", "off"]


def _cases(words: list[str]) -> st.SearchStrategy[str]:
    def recase(word: str, mask: list[bool]) -> str:
        return "".join(c.upper() if up else c for c, up in zip(word, mask, strict=False))

    return st.sampled_from(words).flatmap(
        lambda w: st.lists(st.booleans(), min_size=len(w), max_size=len(w)).map(
            lambda m: recase(w, m)
        )
    )


class TestParseFlag:
    @given(_cases(_TRUE), st.sampled_from(["", " ", "\t"]))
    def test_true_spellings_in_any_case(self, word, pad):
        """Every true spelling in any case, with blanks around it, is True."""
        assert parse_flag("PHASE1_CONFIG_ENFORCEMENT", pad + word + pad) is True

    @given(_cases(_FALSE))
    def test_false_spellings_in_any_case(self, word):
        """Every false spelling in any case is False."""
        assert parse_flag("PHASE1_CONFIG_ENFORCEMENT", word) is False

    @given(st.text(max_size=12))
    def test_anything_else_is_an_error_naming_variable_and_value(self, text):
        """Any other text raises FlagError naming the variable and the value."""
        if text.strip().lower() in {*_TRUE, *_FALSE}:
            return
        with pytest.raises(FlagError) as info:
            parse_flag("PHASE2_PYDANTIC_VALIDATION", text)
        assert "PHASE2_PYDANTIC_VALIDATION" in str(info.value)
        assert repr(text) in str(info.value)

    def test_typo_ture_is_rejected(self):
        """The classic typo `ture` is an error, not false."""
        with pytest.raises(FlagError, match="'ture'"):
            parse_flag("PHASE4_AUDIT_TRAIL", "ture")


class TestParsePercent:
    @pytest.mark.parametrize(
        ("text", "value"), [("10", 10.0), ("12.5%", 12.5), ("0", 0.0), ("100", 100.0)]
    )
    def test_accepts_numbers_0_to_100(self, text, value):
        """Numbers 0-100, with an optional % sign, are percentages."""
        assert parse_percent("X_ROLLOUT_PERCENT", text) == value

    @pytest.mark.parametrize("text", ["-1", "101", "nan", "inf", "ten", ""])
    def test_rejects_everything_else(self, text):
        """Out of range, NaN, infinity and words are errors naming the variable."""
        with pytest.raises(FlagSourceError, match="X_ROLLOUT_PERCENT"):
            parse_percent("X_ROLLOUT_PERCENT", text)
