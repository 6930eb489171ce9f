import numpy as np
import pytest
from factor_strategies import random_panel

from stratloop.errors import FactorTemplateError
from stratloop.factors import (
    FactorLibrary,
    FactorTemplate,
    Limits,
    ParamRange,
    default_library,
    evaluate,
)
from stratloop.factors.library import FactorDraw

REQUIRED = {
    "momentum_12_1", "short_term_reversal", "low_volatility", "vol_adjusted_momentum", "trend",
    "dual_moving_average", "breakout", "rsi_oscillator", "zscore_reversion",
    "drawdown_from_high", "return_skew", "multi_factor",
}


class TestDefaultLibrary:
    def test_has_the_classic_factors(self):
        """At least twelve templates, including every classic the issue names."""
        library = default_library()
        assert len(library) >= 12
        assert set(library.names) >= REQUIRED

    @pytest.mark.parametrize("name", sorted(default_library().names))
    def test_every_template_evaluates(self, name):
        """Each template's default instance gives a finite signal on enough data."""
        panel = random_panel(11, 300, 6, nan_share=0.0)
        expr = default_library().instantiate(name)
        out = evaluate(expr, panel)
        assert np.isfinite(out[expr.lookback + 1 :]).mean() > 0.9

    def test_momentum_12_1_is_the_textbook_one(self):
        """The default 12-1 momentum is the return from t-252 to t-21."""
        assert str(default_library().instantiate("momentum_12_1")) == (
            "delay(pct_change(close, 231), 21)"
        )

    def test_instantiate_checks_parameters(self):
        """Unknown names and out-of-range values are errors naming the template."""
        library = default_library()
        assert str(library.instantiate("trend", {"n": 50})) == "close / ts_mean(close, 50) - 1"
        with pytest.raises(FactorTemplateError, match=r"'trend'.*did you mean n"):
            library.instantiate("trend", {"nn": 50})
        with pytest.raises(FactorTemplateError, match=r"\[20, 252\]"):
            library.instantiate("trend", {"n": 5})
        with pytest.raises(FactorTemplateError, match="did you mean trend"):
            library.get("trnd")

    def test_sample_is_deterministic_and_fits_limits(self):
        """The same generator state gives the same factor; limits are respected."""
        library = default_library()
        limits = Limits(max_window=60)
        first = [
            library.draw(np.random.default_rng(5), fields=frozenset({"close"}), limits=limits).expr
            for _ in range(2)
        ]
        assert first[0] == first[1]
        rng = np.random.default_rng(1)
        for _ in range(50):
            draw = library.draw(rng, fields=frozenset({"close"}), limits=limits)
            assert isinstance(draw, FactorDraw)
            assert all(value <= 60 for value in draw.values.values())


class TestTemplates:
    def test_placeholders_must_match_params(self):
        """A placeholder without a range, or a range without a placeholder, is an error."""
        with pytest.raises(FactorTemplateError, match="without a range"):
            FactorTemplate("bad", "ts_mean(close, {n})")
        with pytest.raises(FactorTemplateError, match="not used"):
            FactorTemplate("bad", "close", {"n": ParamRange(1, 2, 1)})

    def test_invalid_at_range_end(self):
        """A template that breaks at an end of its range is rejected up front."""
        with pytest.raises(FactorTemplateError, match="must be >= 2"):
            FactorTemplate("bad", "ts_std(returns, {n})", {"n": ParamRange(1, 10, 5)})

    def test_with_templates_rejects_duplicates(self):
        """A user factor cannot silently replace a built-in one."""
        library = default_library()
        extra = FactorTemplate("mine", "rank(returns)")
        assert "mine" in library.with_templates([extra])
        with pytest.raises(FactorTemplateError, match="already taken"):
            library.with_templates([FactorTemplate("trend", "rank(returns)")])
        with pytest.raises(ValueError, match="at least one"):
            FactorLibrary([])
