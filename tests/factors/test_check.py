import pytest

from stratloop.errors import ExpressionSyntaxError
from stratloop.factors import Limits, check_strategy
from stratloop.spec import Strategy, TopN


class TestCheckStrategy:
    def test_canonicalises(self):
        """The returned strategy carries the canonical expression text."""
        strategy = Strategy(expression="rank( ts_mean(returns,20) )", portfolio=TopN(n=3))
        checked = check_strategy(strategy, fields=frozenset({"close"}), limits=Limits())
        assert checked.expression == "rank(ts_mean(returns, 20))"
        assert checked.portfolio == strategy.portfolio
        assert check_strategy(checked, fields=frozenset({"close"}), limits=Limits()) is checked

    def test_rejects_bad_expressions(self):
        """An expression that does not parse is an ExpressionError."""
        strategy = Strategy(expression="__import__('os')", portfolio=TopN(n=3))
        with pytest.raises(ExpressionSyntaxError):
            check_strategy(strategy, fields=frozenset({"close"}), limits=Limits())
