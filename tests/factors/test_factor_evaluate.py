import importlib

import numpy as np
import pytest
from factor_strategies import changed_after, panels, random_panel, typed_exprs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratloop.errors import ExpressionTypeError
from stratloop.factors import EvalCache, evaluate, parse

evaluate_module = importlib.import_module("stratloop.factors.evaluate")

SLOW_OK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class TestEvaluate:
    @SLOW_OK
    @given(typed_exprs, panels)
    def test_random_expressions_evaluate(self, expr, panel):
        """Every well-typed expression evaluates to a dates x assets float panel, never inf."""
        out = evaluate(expr, panel)
        assert out.shape == panel.shape
        assert out.dtype == np.float64
        assert not np.isinf(out).any()

    @SLOW_OK
    @given(typed_exprs, st.integers(0, 2**32 - 1), st.data())
    def test_no_look_ahead(self, expr, seed, data):
        """Changing any data after row t never changes the signal at rows <= t."""
        panel = random_panel(seed, 30, 4)
        t = data.draw(st.integers(0, 28))
        other = changed_after(panel, t, seed)
        before = evaluate(expr, panel)[: t + 1]
        after = evaluate(expr, other)[: t + 1]
        np.testing.assert_array_equal(before, after)

    def test_no_look_ahead_across_segments(self):
        """Truncating a long panel leaves every earlier value bit-identical."""
        panel = random_panel(4, 2500, 3, nan_share=0.0)
        text = "ts_std(close, 50) + decay_linear(close, 30) + ts_corr(close, returns, 40)"
        full = evaluate(text, panel)
        part = evaluate(text, panel.slice_rows(0, 1500))
        np.testing.assert_array_equal(full[:1500], part)

    def test_parallel_levels_match_serial(self):
        """Large panels evaluate independent subtrees on threads, with identical results."""
        panel = random_panel(8, 1000, 1000)
        text = "rank(ts_mean(returns, 5)) / ts_std(returns, 4) - log(close / delay(close, 3))"
        threaded = evaluate(text, panel)
        small = evaluate_module._PARALLEL_SIZE
        try:
            evaluate_module._PARALLEL_SIZE = 10**12
            serial = evaluate(text, panel)
        finally:
            evaluate_module._PARALLEL_SIZE = small
        np.testing.assert_array_equal(threaded, serial)

    @SLOW_OK
    @given(typed_exprs, panels)
    def test_reusing_operand_memory_changes_nothing(self, expr, panel):
        """Without a cache operands are overwritten in place; the values match a cached run."""
        close = panel.close.copy()
        reused = evaluate(expr, panel)
        kept = evaluate(expr, panel, cache=EvalCache(max_bytes=2**30))
        np.testing.assert_array_equal(reused, kept)
        np.testing.assert_array_equal(panel.close, close)

    def test_shared_operand_survives_in_place_use(self):
        """A subtree read twice is not overwritten by its first reader."""
        panel = random_panel(3, 60, 5)
        mean = evaluate("ts_mean(close, 3)", panel)
        out = evaluate("(ts_mean(close, 3) + 1) * ts_mean(close, 3) - close", panel)
        np.testing.assert_array_equal(out, (mean + 1) * mean - panel.close)

    def test_text_and_tree_agree(self):
        """Evaluating text parses it first."""
        panel = random_panel(1, 40, 3)
        text = "rank(ts_mean(returns, 5)) - rank(ts_std(returns, 10))"
        np.testing.assert_array_equal(evaluate(text, panel), evaluate(parse(text), panel))

    def test_unknown_field_on_this_panel(self):
        """A field the panel lacks is a type error naming the fields it has."""
        with pytest.raises(ExpressionTypeError, match="fields: close, returns"):
            evaluate("volume + 1", random_panel(1, 10, 2))

    def test_lookback_rows_are_nan(self):
        """Rows before the lookback are NaN, and the first full row is defined."""
        panel = random_panel(2, 50, 3, nan_share=0.0)
        expr = parse("ts_mean(returns, 10)")
        out = evaluate(expr, panel)
        assert np.isnan(out[: expr.lookback]).all()
        assert np.isfinite(out[expr.lookback]).all()


class TestEvalCache:
    def test_shared_subtrees_hit(self):
        """A one-parameter mutation reuses its unchanged subtrees from the cache."""
        panel = random_panel(3, 80, 5)
        cache = EvalCache(max_bytes=10_000_000)
        base = "rank(ts_mean(returns, 20)) - rank(ts_std(returns, {}))"
        first = evaluate(base.format(30), panel, cache=cache)
        misses = cache.stats().misses
        second = evaluate(base.format(31), panel, cache=cache)
        stats = cache.stats()
        assert stats.hits >= 2  # returns and rank(ts_mean(returns, 20))
        assert stats.misses - misses == 2  # ts_std(..., 31) and its rank; infix nodes bypass it
        assert not np.array_equal(first, second, equal_nan=True)

    def test_cached_values_equal_uncached(self):
        """The cache never changes a result; cached arrays are read-only."""
        panel = random_panel(5, 60, 4)
        cache = EvalCache(max_bytes=10_000_000)
        text = "rank(zscore(ts_sum(returns, 5)) * close)"
        evaluate(text, panel, cache=cache)
        cached = evaluate(text, panel, cache=cache)
        np.testing.assert_array_equal(cached, evaluate(text, panel))
        assert not cached.flags.writeable

    def test_infix_nodes_are_recomputed_not_cached(self):
        """An infix root is computed afresh from cached operands and stays the caller's own."""
        panel = random_panel(5, 60, 4)
        cache = EvalCache(max_bytes=10_000_000)
        text = "ts_rank(close, 5) - ts_zscore(close, 3)"
        first = evaluate(text, panel, cache=cache)
        entries = cache.stats().entries
        second = evaluate(text, panel, cache=cache)
        np.testing.assert_array_equal(first, second)
        assert entries == 2
        assert second.flags.writeable
        assert second is not first

    def test_bounded_by_bytes(self):
        """Least recently used entries are evicted to stay under max_bytes."""
        panel = random_panel(6, 100, 10)
        one = panel.close.nbytes
        cache = EvalCache(max_bytes=3 * one)
        for window in range(2, 8):
            evaluate(f"ts_mean(close, {window})", panel, cache=cache)
        stats = cache.stats()
        assert stats.bytes <= 3 * one
        assert stats.entries == 3
        assert stats.evictions == 3

    def test_panels_do_not_mix(self):
        """The same expression on two panels is two entries."""
        cache = EvalCache(max_bytes=10_000_000)
        a, b = random_panel(7, 30, 2), random_panel(8, 30, 2)
        out_a = evaluate("ts_mean(close, 3)", a, cache=cache)
        out_b = evaluate("ts_mean(close, 3)", b, cache=cache)
        assert not np.array_equal(out_a, out_b, equal_nan=True)
        assert cache.stats().hits == 0

    def test_rejects_negative_size(self):
        """A negative bound is refused."""
        with pytest.raises(ValueError, match="max_bytes"):
            EvalCache(-1)
