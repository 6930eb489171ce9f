"""Units of expressions: derivation per operator, scale-free cross sections and signals."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratloop.data import Panel
from stratloop.errors import ExpressionTypeError, FactorTemplateError, MutationError
from stratloop.factors import (
    FIELD_UNITS,
    MUTATION_OPERATORS,
    Limits,
    check_strategy,
    default_library,
    evaluate,
    load_user_factors,
    mutate,
    parse,
)
from stratloop.factors import FIELDS as ALL_FIELDS
from stratloop.factors.limits import EVALUATION_LIMITS
from stratloop.factors.ops import OPERATORS
from stratloop.factors.typecheck import infer_type, typecheck
from stratloop.spec import LongShort, Strategy, Threshold, TopN

LIBRARY = default_library()
FIELDS = frozenset({"open", "high", "low", "close", "volume"})
LIMITS = Limits()
LEAKS = ("rank(close)", "rank(-close)", "zscore(ema(close, 4))", "rank(decay_linear(close, 4))")


def unit_of(text: str) -> str:
    kind = infer_type(parse(text), fields=FIELDS | {"returns"}, limits=EVALUATION_LIMITS)
    return kind.unit.describe()


def check(text: str) -> None:
    typecheck(parse(text), fields=FIELDS, limits=EVALUATION_LIMITS)


class TestLeaksAreRefused:
    @pytest.mark.parametrize("text", LEAKS)
    def test_price_levels_in_a_cross_section(self, text):
        """The issue's four leaks are unit errors naming the operator, the term and its unit."""
        with pytest.raises(ExpressionTypeError) as caught:
            check(text)
        message = str(caught.value)
        operator = text.split("(")[0]
        offending = text[len(operator) + 1 : -1]
        assert "unit error" in message
        assert f"{operator} (cross-sectional)" in message
        assert f"`{parse(offending).text}` is a level (unit: price)" in message
        assert "future splits and dividends" in message
        assert caught.value.suggestion is not None
        assert "/ delay(" in caught.value.suggestion

    @pytest.mark.parametrize(
        "text", ["close", "ts_mean(close, 20)", "volume", "close * volume", "log(close)"]
    )
    def test_a_level_is_not_a_signal(self, text):
        """The portfolio selection ranks the whole expression: it must be scale-free too."""
        with pytest.raises(ExpressionTypeError, match="portfolio selection"):
            check(text)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("close + volume", "cannot add or subtract a price and a volume"),
            ("close > volume", "cannot compare a price and a volume"),
            ("max(close, volume) / close", "cannot choose between a price and a volume"),
            ("where(returns > 0, close, volume) / close", "cannot choose between"),
        ],
    )
    def test_units_must_combine(self, text, message):
        """Adding, comparing or choosing between different units is an error."""
        with pytest.raises(ExpressionTypeError, match=message):
            check(text)

    @pytest.mark.parametrize(
        "text",
        [
            "rank(close / delay(close, 20))",
            "zscore(close / ts_mean(close, 20))",
            "rank(pct_change(close, 5))",
            "scale(rank(returns) - 0.5)",
            "demean(ts_rank(close, 10))",
            "rank(volume / ts_mean(volume, 20))",
            "rank(log(close) - log(delay(close, 20)))",
            "rank(ts_std(log(close), 20))",
            "rank(close * volume / ts_mean(close * volume, 20))",
            "where(close > ts_mean(close, 20), 1, 0)",
            "where(close > delay(close, 1), 1, -1)",
            "ts_sum(where(returns > 0, 1, 0), 20)",
        ],
    )
    def test_scale_free_inputs_pass(self, text):
        """Returns, same-unit ratios, ranks and counts are fine anywhere."""
        check(text)


class TestDerivation:
    @pytest.mark.parametrize(
        ("text", "unit"),
        [
            ("close", "price"),
            ("open", "price"),
            ("volume", "volume"),
            ("returns", "dimensionless"),
            ("-close", "price"),
            ("close + 1", "price"),
            ("close - delay(close, 1)", "price"),
            ("close / ts_mean(close, 20)", "dimensionless"),
            ("close * volume", "dollar volume"),
            ("close / volume", "price*volume^-1"),
            ("ts_std(close, 5) * ts_std(close, 5)", "price^2"),
            ("2 / close", "price^-1"),
            ("close / 2", "price"),
            ("delay(close, 3)", "price"),
            ("delta(close, 3)", "price"),
            ("pct_change(close, 3)", "dimensionless"),
            ("ts_mean(close, 3)", "price"),
            ("ts_std(close, 3)", "price"),
            ("ts_sum(volume, 3)", "volume"),
            ("ts_min(close, 3)", "price"),
            ("ts_max(close, 3)", "price"),
            ("ts_rank(close, 3)", "rank"),
            ("ts_zscore(close, 3)", "dimensionless"),
            ("ts_corr(close, volume, 3)", "dimensionless"),
            ("ema(close, 3)", "price"),
            ("decay_linear(close, 3)", "price"),
            ("rank(returns)", "rank"),
            ("zscore(returns)", "dimensionless"),
            ("demean(returns)", "dimensionless"),
            ("demean(rank(returns))", "rank"),
            ("scale(returns)", "dimensionless"),
            ("abs(close)", "price"),
            ("sign(close)", "dimensionless"),
            ("log(close)", "log price"),
            ("log(returns + 1)", "dimensionless"),
            ("log(close) - log(delay(close, 1))", "dimensionless"),
            ("log(close) + log(volume)", "log dollar volume"),
            ("delta(log(close), 1)", "dimensionless"),
            ("ts_std(log(close), 5)", "dimensionless"),
            ("log(close) * returns", "mixed level"),
            ("sqrt(close * close)", "price"),
            ("sqrt(volume)", "volume^1/2"),
            ("clip(close, 0, 10)", "price"),
            ("where(returns > 0, close, delay(close, 1))", "price"),
            ("where(returns > 0, 1, 0)", "dimensionless"),
            ("min(close, 0)", "price"),
            ("max(close, ts_max(close, 5))", "price"),
            ("rank(returns) + rank(returns)", "rank"),
            ("rank(returns) - rank(returns)", "dimensionless"),
            ("rank(returns) + returns", "dimensionless"),
            ("2 * rank(returns)", "rank"),
            ("ts_mean(rank(returns), 5)", "rank"),
            ("delta(rank(returns), 5)", "dimensionless"),
        ],
    )
    def test_unit(self, text, unit):
        """Each operator derives its unit by its rule in the operator table."""
        assert unit_of(text) == unit

    def test_every_field_has_a_unit(self):
        """The field table and the unit table name the same fields."""
        assert set(FIELD_UNITS) == set(ALL_FIELDS)

    def test_every_operator_has_a_rule(self):
        """The table names a rule for every operator (a derivation test covers each one)."""
        for name in OPERATORS:
            assert any(text.startswith(f"{name}(") or f" {name}(" in text or f"({name}(" in text
                       for text, _ in self._cases()), name

    @staticmethod
    def _cases():
        marks = TestDerivation.test_unit.pytestmark
        return next(mark for mark in marks if mark.name == "parametrize").args[1]


class TestTemplates:
    @pytest.mark.parametrize("name", LIBRARY.names)
    def test_every_template_is_scale_free(self, name):
        """Every built-in template type-checks with the unit rules at its defaults and ends."""
        template = LIBRARY.get(name)
        for values in (template.defaults(), template.extremes(low=True),
                       template.extremes(low=False)):
            expr = template.instantiate(values, fields=FIELDS, limits=EVALUATION_LIMITS)
            kind = infer_type(expr, fields=FIELDS | {"returns"}, limits=EVALUATION_LIMITS)
            assert kind.unit.scale_free

    def test_user_factor_with_a_price_level_is_refused(self, tmp_path):
        """A user template ranking a raw price names the template and the unit problem."""
        path = tmp_path / "factors.yaml"
        path.write_text(
            "version: 1\nfactors:\n  cheap:\n    expression: 'rank(-ts_mean(close, {n}))'\n"
            "    params: {n: {low: 5, high: 20}}\n"
        )
        with pytest.raises(FactorTemplateError) as caught:
            load_user_factors(path)
        message = str(caught.value)
        assert "'cheap'" in message
        assert str(path) in message
        assert "unit error: rank (cross-sectional)" in message
        assert "is a level (unit: price)" in message
        assert "/ delay(" in message


templates = st.sampled_from(LIBRARY.templates)
rules = st.one_of(
    st.builds(TopN, n=st.integers(1, 20)),
    st.builds(LongShort, quantile=st.sampled_from([0.1, 0.2, 0.5])),
    st.builds(Threshold, upper=st.floats(-1, 1), lower=st.none()),
)


def _strategy(template, seed, rule):
    values = template.sample_values(np.random.default_rng(seed))
    expr = template.instantiate(values, fields=FIELDS, limits=LIMITS)
    return Strategy(expression=expr.text, portfolio=rule)


def _mutations_stay_unit_valid(parent_template, other_template, seeds, rule, operator, depth):
    """Mutate a template ``depth`` times; every child passes the unit rules."""
    parent = _strategy(parent_template, seeds[0], rule)
    other = _strategy(other_template, seeds[1], rule)
    rng = np.random.default_rng(seeds[2])
    for _ in range(depth):
        try:
            child, _ = mutate(parent, rng, library=LIBRARY, limits=LIMITS, fields=FIELDS,
                              operator=operator, other=other)
        except MutationError:
            return
        check_strategy(child, fields=FIELDS, limits=LIMITS)
        parent = child


_SEEDS = st.tuples(*[st.integers(0, 2**32 - 1)] * 3)
_OPERATORS = st.sampled_from([None, None, None, *MUTATION_OPERATORS])


class TestMutationsRespectUnits:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(templates, templates, _SEEDS, rules, _OPERATORS, st.integers(1, 4))
    def test_random_mutations_are_unit_valid(self, parent, other, seeds, rule, operator, depth):
        """Random mutation chains of library templates never yield a unit error (fast sample)."""
        _mutations_stay_unit_valid(parent, other, seeds, rule, operator, depth)

    @pytest.mark.slow
    @pytest.mark.timeout(900)
    @settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(templates, templates, _SEEDS, rules, _OPERATORS)
    def test_ten_thousand_mutations_are_unit_valid(self, parent, other, seeds, rule, operator):
        """The issue's bar: 10,000 random mutations of the library's templates, no unit error."""
        _mutations_stay_unit_valid(parent, other, seeds, rule, operator, 1)

    def test_mutations_still_find_children(self):
        """Filtering by unit leaves the search room: random mutations almost always succeed."""
        found = 0
        for seed in range(200):
            rng = np.random.default_rng(seed)
            parent = _strategy(LIBRARY.templates[seed % len(LIBRARY)], seed, TopN(n=5))
            other = _strategy(LIBRARY.templates[(seed * 7 + 3) % len(LIBRARY)], seed, TopN(n=5))
            try:
                mutate(parent, rng, library=LIBRARY, limits=LIMITS, fields=FIELDS, other=other)
            except MutationError:
                continue
            found += 1
        assert found >= 196

    def test_the_leaking_swap_is_never_proposed(self):
        """pct_change(close, 4) never becomes a price level such as decay_linear(close, 4)."""
        parent = Strategy(expression="rank(pct_change(close, 4))", portfolio=TopN(n=5))
        seen = set()
        for seed in range(200):
            child, lineage = mutate(parent, np.random.default_rng(seed), library=LIBRARY,
                                    limits=LIMITS, fields=FIELDS, operator="operator_swap")
            seen.add(lineage.params["new"])
            check_strategy(child, fields=FIELDS, limits=LIMITS)
        assert seen == {"ts_rank", "ts_zscore"} | {"zscore", "demean", "scale"}

    def test_a_legacy_parent_can_be_repaired(self):
        """A champion recorded before the rules (rank(close)) still mutates into valid children."""
        parent = Strategy(expression="rank(close)", portfolio=TopN(n=5))
        child, lineage = mutate(parent, np.random.default_rng(0), library=LIBRARY,
                                limits=LIMITS, fields=FIELDS, operator="replace_subtree")
        check_strategy(child, fields=FIELDS, limits=LIMITS)
        assert lineage.operator == "replace_subtree"


class TestStoredExpressions:
    def test_evaluate_computes_a_legacy_signal(self):
        """Evaluating a stored expression does not apply the rules: old runs still resume."""
        dates = np.arange("2024-01-01", "2024-01-04", dtype="datetime64[D]")
        close = np.array([[1.0, 4.0], [2.0, 2.0], [3.0, 1.0]])
        panel = Panel(dates, ("A", "B"), {"close": close})
        expected = [[0.5, 1.0], [0.75, 0.75], [1.0, 0.5]]
        assert np.array_equal(evaluate("rank(close)", panel), expected)
        with pytest.raises(ExpressionTypeError, match="unit error"):
            check_strategy(Strategy(expression="rank(close)", portfolio=TopN(n=1)),
                           fields=frozenset({"close"}), limits=LIMITS)

