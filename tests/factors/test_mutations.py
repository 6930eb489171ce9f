import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratloop.errors import MutationError
from stratloop.factors import MUTATION_OPERATORS, Limits, default_library, mutate, parse
from stratloop.factors.mutations import default_top_n
from stratloop.factors.typecheck import typecheck
from stratloop.spec import Exits, LongShort, Strategy, Threshold, TopN

LIBRARY = default_library()
FIELDS = frozenset({"close"})
LIMITS = Limits()

expressions = st.builds(
    lambda seed: LIBRARY.draw(np.random.default_rng(seed), fields=FIELDS, limits=LIMITS).expr,
    st.integers(0, 2**32 - 1),
)
rules = st.one_of(
    st.builds(TopN, n=st.integers(1, 20), rebalance_days=st.sampled_from([1, 5, 21])),
    st.builds(LongShort, quantile=st.sampled_from([0.1, 0.2, 0.5])),
    st.builds(Threshold, upper=st.floats(-1, 1), lower=st.none()),
)
strategies = st.builds(
    lambda expr, rule, stop: Strategy(expression=expr.text, portfolio=rule,
                                      exits=Exits(stop_loss=stop)),
    expressions, rules, st.sampled_from([None, 0.1]),
)


def run(strategy, seed, **kwargs):
    kwargs.setdefault("library", LIBRARY)
    kwargs.setdefault("limits", LIMITS)
    kwargs.setdefault("fields", FIELDS)
    return mutate(strategy, np.random.default_rng(seed), **kwargs)


class TestMutate:
    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(strategies, strategies, st.integers(0, 2**32 - 1),
           st.sampled_from([None, *MUTATION_OPERATORS]))
    def test_child_is_valid_and_different(self, parent, other, seed, operator):
        """Every mutation of a valid spec is a valid spec that differs from it."""
        try:
            child, lineage = run(parent, seed, operator=operator, other=other)
        except MutationError:
            # only moves that may not apply to a given tree can run out of attempts
            assert operator in ("remove_factor", "operator_swap", "crossover")
            return
        typecheck(parse(child.expression), fields=FIELDS, limits=LIMITS)
        assert child.canonical_json() != parent.canonical_json()
        assert lineage.parents[0] == parent.strategy_id()
        assert lineage.operator in MUTATION_OPERATORS

    @settings(max_examples=30, deadline=None)
    @given(strategies, st.integers(0, 2**32 - 1))
    def test_deterministic(self, parent, seed):
        """The same generator state gives the same child and lineage."""
        assert run(parent, seed) == run(parent, seed)

    def test_parameter_changes_one_window_within_range(self):
        """A parameter move changes one window and stays within [minimum, max_window]."""
        parent = Strategy(expression="ts_std(returns, 250)", portfolio=TopN(n=3))
        for seed in range(30):
            child, lineage = run(parent, seed, operator="parameter")
            assert lineage.params["operator"] == "ts_std"
            assert 2 <= lineage.params["new"] <= 252
            assert child.expression == f"ts_std(returns, {lineage.params['new']})"

    def test_shared_subexpressions_change_together(self):
        """A window of a subexpression used twice changes at both uses (a DAG rewrite)."""
        breakout = LIBRARY.instantiate("breakout", {"n": 55})
        parent = Strategy(expression=breakout.text, portfolio=TopN(n=3))
        for seed in range(20):
            child, lineage = run(parent, seed, operator="parameter")
            if lineage.params["operator"] == "ts_min":
                new = lineage.params["new"]
                assert child.expression.count(f"ts_min(close, {new})") == 2
                assert "ts_min(close, 55)" not in child.expression
                return
        pytest.fail("no ts_min parameter move in 20 seeds")

    def test_crossover_records_both_parents(self):
        """Crossover takes a subtree from the other parent and names both parents."""
        parent = Strategy(expression="rank(ts_mean(returns, 20))", portfolio=TopN(n=3))
        other = Strategy(expression="close / ts_max(close, 55) - 1", portfolio=TopN(n=3))
        _, lineage = run(parent, 1, operator="crossover", other=other)
        assert lineage.parents == (parent.strategy_id(), other.strategy_id())
        assert lineage.params["donor"] in other.expression

    def test_add_then_remove(self):
        """add_factor builds a rank-weighted sum; remove_factor drops one term."""
        parent = Strategy(expression="ts_mean(returns, 20)", portfolio=TopN(n=3))
        child, lineage = run(parent, 2, operator="add_factor")
        assert child.expression.startswith("rank(ts_mean(returns, 20)) + ")
        assert lineage.params["factor"] in LIBRARY
        smaller, _ = run(child, 3, operator="remove_factor")
        assert len(smaller.expression) < len(child.expression)

    def test_portfolio_moves_keep_the_expression(self):
        """Portfolio mutations change the rule or exits, never the signal."""
        parent = Strategy(expression="rank(returns)", portfolio=TopN(n=5))
        for seed in range(20):
            child, lineage = run(parent, seed, operator="portfolio", n_assets=20)
            assert child.expression == parent.expression
            assert lineage.params["field"].split(".")[0] in ("portfolio", "exits")
            if isinstance(child.portfolio, TopN):
                assert 1 <= child.portfolio.n <= 20

    @settings(max_examples=200, deadline=None)
    @given(
        st.integers(1, 1000),
        st.integers(1, 10_000),
        st.booleans(),
        st.integers(0, 2**32 - 1),
    )
    def test_top_n_stays_within_the_universe_and_the_spec(self, n, n_assets, top, seed):
        """A universe wider than the spec's 1,000 caps top-N there, it does not fail the run."""
        rule = TopN(n=min(n, n_assets)) if top else LongShort(quantile=0.2)
        parent = Strategy(expression="rank(returns)", portfolio=rule)
        child, _ = run(parent, seed, operator="portfolio", n_assets=n_assets)
        if isinstance(child.portfolio, TopN):
            assert 1 <= child.portfolio.n <= min(n_assets, 1000)

    def test_the_default_top_n_is_a_quarter_of_the_universe_within_the_spec(self):
        assert [default_top_n(n) for n in (None, 2, 20, 3000, 5000)] == [5, 1, 5, 750, 1000]

    def test_errors(self):
        """Unknown operators, missing partners and impossible moves are explicit errors."""
        parent = Strategy(expression="returns", portfolio=TopN(n=3))
        with pytest.raises(MutationError, match="did you mean crossover"):
            run(parent, 0, operator="crosover")
        with pytest.raises(MutationError, match="second parent"):
            run(parent, 0, operator="crossover")
        with pytest.raises(MutationError, match="in 5 attempts; last: remove_factor does not"):
            run(parent, 0, operator="remove_factor", max_attempts=5)

    def test_limits_are_respected(self):
        """A child that would exceed the node limit is retried, then refused."""
        parent = Strategy(expression="rank(ts_mean(returns, 20))", portfolio=TopN(n=3))
        with pytest.raises(MutationError, match="invalid expression"):
            run(parent, 0, operator="add_factor", limits=Limits(max_nodes=6), max_attempts=3)
