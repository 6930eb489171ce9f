import pytest

from stratloop.config.models import GenerationConfig
from stratloop.errors import ExpressionLimitError, ExpressionTypeError
from stratloop.factors import Call, Field, Limits, Number, parse
from stratloop.factors.typecheck import typecheck

CLOSE = frozenset({"close"})


def check(text, limits=None):
    return typecheck(parse(text), fields=CLOSE, limits=limits or Limits())


class TestTypecheck:
    def test_valid_signal(self):
        """A numeric panel passes unchanged."""
        expr = parse("where(close > ts_mean(close, 5) and not close < 1, rank(returns), 0)")
        assert typecheck(expr, fields=CLOSE, limits=Limits()) is expr

    @pytest.mark.parametrize(
        ("text", "needle"),
        [
            ("delay(close, -1)", "lag and must be >= 0"),
            ("ts_std(close, 1)", "must be >= 2"),
            ("ts_mean(close, 2.5)", "integer number of rows"),
            ("ts_mean(close, close)", "number literal"),
            ("ts_mean(close)", "takes 2 arguments"),
            ("rank(1)", "must be a panel"),
            ("close > 1", "condition, not a number"),
            ("1 + 2", "constant"),
            ("close + (close > 1)", "needs numbers"),
            ("close and close", "needs conditions"),
            ("not close", "not needs a condition"),
            ("-(close > 1)", "cannot negate"),
            ("where(close, 1, 0)", "must be a condition"),
            ("clip(close, 2, 1)", "reversed"),
            ("volume * 2", "not in this data"),
            ("rank(close > 1)", "must be numeric"),
        ],
    )
    def test_type_errors(self, text, needle):
        """Each ill-typed expression is rejected with a message saying why."""
        with pytest.raises(ExpressionTypeError, match=needle):
            check(text)

    def test_window_limit(self):
        """A window above max_window is a limit error naming the setting."""
        with pytest.raises(ExpressionLimitError, match=r"generation\.max_window"):
            check("ts_mean(close, 30)", Limits(max_window=20))

    def test_size_and_depth_limits_on_built_trees(self):
        """Trees built in code are held to the same limits as parsed text."""
        deep = Field("close")
        for _ in range(15):
            deep = Call("abs", (deep,))
        with pytest.raises(ExpressionLimitError, match="depth 16"):
            typecheck(deep, fields=CLOSE, limits=Limits())
        with pytest.raises(ExpressionLimitError, match="nodes"):
            typecheck(deep, fields=CLOSE, limits=Limits(max_nodes=4, max_depth=100))

    def test_returns_needs_close(self):
        """Returns is derived from close; without close there is none."""
        with pytest.raises(ExpressionTypeError, match="returns"):
            typecheck(parse("returns"), fields=frozenset({"open"}), limits=Limits())

    def test_suggests_known_field(self):
        """A field the data lacks suggests a close one."""
        with pytest.raises(ExpressionTypeError, match="did you mean open"):
            typecheck(
                Call("abs", (Field("opens"),)), fields=frozenset({"close", "open"}), limits=Limits()
            )

    def test_limits_from_config(self):
        """Limits mirror the generation section."""
        generation = GenerationConfig(
            use_factor_graph=True, innovation_rate=0.0, max_expression_nodes=30,
            max_expression_depth=7, max_window=100,
        )
        assert Limits.from_config(generation) == Limits(30, 7, 100)
        with pytest.raises(ValueError, match="max_depth"):
            Limits(max_depth=0)
        assert Number(3).lookback == 0
