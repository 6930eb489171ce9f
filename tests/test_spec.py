"""The strategy spec: shape, strictness and identity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from stratloop.spec import Candidate, Exits, LongShort, Strategy, Threshold, TopN


def _strategy(**changes: object) -> Strategy:
    base: dict[str, object] = {"expression": "rank(returns)", "portfolio": TopN(n=3)}
    base.update(changes)
    return Strategy.model_validate(base)


class TestStrategyIdentity:
    def test_equal_specs_share_an_id(self):
        """Two equal specs built separately have the same canonical JSON and id."""
        assert _strategy().strategy_id() == _strategy().strategy_id()
        assert _strategy().canonical_json() == _strategy().canonical_json()

    def test_a_copy_with_a_change_gets_a_new_id(self):
        """model_copy(update=...) — how mutations build children — never keeps the parent's id."""
        parent = _strategy()
        assert parent.strategy_id()
        child = parent.model_copy(update={"expression": "rank(-returns)"})
        assert child.strategy_id() != parent.strategy_id()
        assert child.strategy_id() == _strategy(expression="rank(-returns)").strategy_id()

    @given(st.integers(1, 999), st.integers(1, 252))
    def test_every_field_takes_part_in_the_id(self, n, days):
        """Changing the rule's size, its rebalance period or the exits changes the id."""
        base = _strategy(portfolio=TopN(n=n, rebalance_days=days))
        others = [
            _strategy(portfolio=TopN(n=n + 1, rebalance_days=days)),
            _strategy(portfolio=TopN(n=n, rebalance_days=days % 252 + 1)),
            base.model_copy(update={"exits": Exits(stop_loss=0.1)}),
        ]
        assert base.strategy_id() not in {other.strategy_id() for other in others}

    def test_candidate_id_is_the_strategy_id(self):
        """A candidate is identified by its strategy, whichever generator made it."""
        strategy = _strategy()
        assert Candidate(strategy, "llm").candidate_id == strategy.strategy_id()


class TestStrategyShape:
    @pytest.mark.parametrize(
        "portfolio",
        [
            {"kind": "top_n", "n": "5"},
            {"kind": "top_n", "n": True},
            {"kind": "long_short", "quantile": 0.7},
            {"kind": "threshold", "upper": float("nan")},
            {"kind": "momentum", "n": 5},
            {"kind": "top_n", "n": 5, "leverage": 3},
        ],
    )
    def test_bad_portfolio_rules_are_rejected(self, portfolio):
        """Strings for numbers, bools, out-of-range values, NaN, unknown kinds and keys fail."""
        with pytest.raises(ValidationError):
            Strategy.model_validate({"expression": "rank(returns)", "portfolio": portfolio})

    def test_rules_round_trip_through_json(self):
        """Each rule kind survives dump and validate unchanged."""
        for rule in (TopN(n=5), LongShort(quantile=0.2), Threshold(upper=0.5, lower=-0.5)):
            spec = _strategy(portfolio=rule, exits=Exits(stop_loss=0.05, max_holding_days=30))
            assert Strategy.model_validate_json(spec.model_dump_json()) == spec

    def test_specs_are_frozen(self):
        """A spec cannot be changed in place."""
        spec = _strategy()
        with pytest.raises(ValidationError):
            spec.expression = "rank(returns)"  # type: ignore[misc]
