"""The persistent factor library: ``factor("name")`` in the DSL and the store of saved factors."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from factor_strategies import changed_after, random_panel, typed_exprs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratloop.errors import (
    ExpressionLimitError,
    ExpressionSyntaxError,
    ExpressionTypeError,
    SavedFactorError,
)
from stratloop.factors import Limits, check_strategy, evaluate, mutate, parse
from stratloop.factors.canonical import canonical, trial_key
from stratloop.factors.grammar import FACTOR_NAME, check_factor_name
from stratloop.factors.graph import inline
from stratloop.factors.library import default_library
from stratloop.factors.nodes import Ref
from stratloop.factors.references import FactorDefinitions
from stratloop.factors.saved import FactorStore, SavedFactor, default_name, entry_from_json
from stratloop.factors.typecheck import infer_type, typecheck
from stratloop.factors.units import PRICE
from stratloop.spec import LongShort, Strategy, TopN

LIB = Path("lib")
SLOW_OK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIELDS = frozenset({"close"})
DEFS = FactorDefinitions(
    {
        "mom": "pct_change(close, 20)",
        "calm": "-ts_std(returns, 60)",
        "combo": 'rank(factor("mom")) - rank(factor("calm"))',
        "level": "ts_mean(close, 5)",
    }
)


def _entry(expression: str, name: str | None = None, **extra: object) -> SavedFactor:
    strategy = Strategy(expression=expression, portfolio=TopN(n=5))
    return SavedFactor.create(strategy, name=name, run_id="run-1", iteration=3, **extra)


class TestFactorReference:
    """``factor("name")`` is a leaf that stands for a library factor's expression."""

    def test_round_trip_keeps_the_name(self):
        """The text keeps ``factor("mom")``, and parses back to the same tree."""
        tree = parse("rank(factor( 'mom' )) - rank(ts_std(returns, 20))", factors=DEFS)
        assert str(tree) == 'rank(factor("mom")) - rank(ts_std(returns, 20))'
        assert parse(str(tree), factors=DEFS) == tree

    def test_signal_equals_the_inlined_expression_exactly(self):
        """A reference evaluates to the inlined expression's values, bit for bit."""
        panel = random_panel(3, 300, 6)
        text = 'rank(factor("combo")) + rank(factor("mom") / ts_std(returns, 10))'
        inlined = (
            "rank(rank(pct_change(close, 20)) - rank(-ts_std(returns, 60))) "
            "+ rank(pct_change(close, 20) / ts_std(returns, 10))"
        )
        assert inline(parse(text, factors=DEFS)) == parse(inlined)
        np.testing.assert_array_equal(evaluate(text, panel, factors=DEFS), evaluate(inlined, panel))

    def test_canonical_key_is_the_inlined_expressions(self):
        """The trial key of a strategy written with a reference is the inlined one's."""
        tree = parse('rank(factor("mom")) + 1', factors=DEFS)
        assert canonical(tree) == canonical(parse("rank(pct_change(close, 20)) + 1"))
        written = Strategy(expression='1 + rank(factor("mom"))', portfolio=TopN(n=5))
        checked = check_strategy(written, fields=FIELDS, limits=Limits(), factors=DEFS)
        assert "factor(" not in checked.expression
        assert trial_key(checked) == trial_key(
            Strategy(expression="rank(pct_change(close, 20)) + 1", portfolio=TopN(n=5))
        )

    def test_unit_is_the_referenced_expressions(self):
        """A reference to a price level is a price: ranking it is a unit error, as inlined."""
        assert (
            infer_type(parse('factor("level")', factors=DEFS), fields=FIELDS, limits=Limits()).unit
            == PRICE
        )
        with pytest.raises(ExpressionTypeError, match="unit error"):
            typecheck(parse('rank(factor("level"))', factors=DEFS), fields=FIELDS, limits=Limits())

    def test_fields_the_data_lacks_are_an_error(self):
        """A library factor using volume does not type-check on close-only data."""
        defs = FactorDefinitions({"flow": "volume / ts_mean(volume, 20)"})
        with pytest.raises(ExpressionTypeError, match="volume"):
            typecheck(parse('factor("flow")', factors=defs), fields=FIELDS, limits=Limits())

    def test_limits_count_the_referenced_expression(self):
        """A reference counts its expression's nodes: limits bound what is evaluated."""
        with pytest.raises(ExpressionLimitError, match="nodes"):
            parse('rank(factor("combo"))', limits=Limits(max_nodes=6), factors=DEFS)

    def test_unknown_name_lists_the_known_ones(self):
        """An unknown name is a syntax error that suggests and lists the library's names."""
        with pytest.raises(ExpressionSyntaxError) as caught:
            parse('factor("mon")', factors=DEFS)
        message = str(caught.value)
        assert "unknown library factor 'mon'" in message
        assert "did you mean mom?" in message
        assert "known: calm, combo, level, mom" in message

    def test_no_library_is_an_error_naming_the_setting(self):
        """Without a library a reference cannot resolve; the message says how to set one."""
        with pytest.raises(ExpressionSyntaxError, match=r"library\.path"):
            parse('factor("mom")')

    @pytest.mark.parametrize(
        ("text", "match"),
        [
            ("factor(mom)", "one quoted name"),
            ('factor("Mom")', "lowercase identifier"),
            ('factor("close")', "word of the expression language"),
            ('rank("mom")', "only allowed as the argument of factor"),
            ('factor("mom", 2)', r"'\)' after factor's name"),
        ],
    )
    def test_malformed_references(self, text, match):
        """Anything but one quoted, valid name is a syntax error saying what is allowed."""
        with pytest.raises(ExpressionSyntaxError, match=match):
            parse(text, factors=DEFS)

    def test_cycles_are_refused(self):
        """Factors that refer to each other in a cycle are an error naming the chain."""
        with pytest.raises(
            ExpressionTypeError, match=r'cycle: factor\("a"\) -> factor\("b"\) -> factor\("a"\)'
        ):
            FactorDefinitions({"a": 'factor("b") + returns', "b": 'rank(factor("a"))'})
        with pytest.raises(ExpressionTypeError, match="cycle"):
            FactorDefinitions({"a": 'factor("a")'})

    def test_a_bad_definition_names_itself(self):
        """A definition that does not parse is an error naming the factor at load time."""
        with pytest.raises(ExpressionSyntaxError, match=r'factor\("x"\) is not a valid expression'):
            FactorDefinitions({"x": "ts_maen(returns, 5)"})

    @given(st.text(max_size=20))
    def test_name_parser_accepts_only_names(self, name):
        """Any quoted text either names a known factor or is a syntax error, never anything else."""
        text = f"factor({json.dumps(name)})"
        if name not in DEFS.names:
            with pytest.raises(ExpressionSyntaxError):
                parse(text, factors=DEFS)
            return
        tree = parse(text, factors=DEFS)
        assert isinstance(tree, Ref)
        assert tree.name == name

    @given(
        st.from_regex(FACTOR_NAME, fullmatch=True).filter(lambda n: check_factor_name(n) is None)
    )
    def test_every_valid_name_round_trips(self, name):
        """A valid name defines, parses, prints and parses back to the same reference."""
        defs = FactorDefinitions({name: "returns"})
        tree = parse(f"factor('{name}') * 2", factors=defs)
        assert parse(str(tree), factors=defs) == tree
        assert inline(tree) == parse("returns * 2")

    @SLOW_OK
    @given(typed_exprs, st.integers(0, 2**32 - 1), st.data())
    def test_no_look_ahead_through_a_reference(self, expr, seed, data):
        """A library factor inside an expression sees only past data: later rows never move it."""
        defs = FactorDefinitions({"x": expr.text})
        text = 'factor("x") - delay(factor("x"), 1)'
        panel = random_panel(seed, 30, 4)
        t = data.draw(st.integers(0, 28))
        other = changed_after(panel, t, seed)
        before = evaluate(text, panel, factors=defs)[: t + 1]
        after = evaluate(text, other, factors=defs)[: t + 1]
        np.testing.assert_array_equal(before, after)


class TestMutationsUseTheLibrary:
    """The factor graph inserts saved factors as leaves; the child is recorded inlined."""

    def test_add_factor_inserts_saved_leaves(self):
        """Over seeds, add_factor draws saved factors too; every child is inlined and valid."""
        parent = Strategy(expression="rank(ts_mean(returns, 10))", portfolio=TopN(n=5))
        used = set()
        for seed in range(40):
            child, lineage = mutate(
                parent,
                np.random.default_rng(seed),
                library=default_library(),
                limits=Limits(),
                fields=FIELDS,
                operator="add_factor",
                saved=DEFS,
            )
            assert "factor(" not in child.expression
            typecheck(parse(child.expression), fields=FIELDS, limits=Limits())
            if "saved_factor" in lineage.params:
                used.add(lineage.params["saved_factor"])
        assert used >= {"mom", "calm", "combo"}
        assert "level" not in used

    def test_without_a_library_mutations_are_unchanged(self):
        """An empty library draws nothing extra: the same seed gives the same child."""
        parent = Strategy(expression="rank(ts_mean(returns, 10))", portfolio=TopN(n=5))
        for seed in range(10):
            args = {"library": default_library(), "limits": Limits(), "fields": FIELDS}
            plain = mutate(parent, np.random.default_rng(seed), **args)
            empty = mutate(parent, np.random.default_rng(seed), saved=FactorDefinitions({}), **args)
            assert plain == empty


class TestFactorStore:
    """Saved factors persist as checksummed JSON files; anything damaged is an error."""

    def test_add_list_get_remove(self, tmp_path):
        """An entry reads back equal; the default name comes from the trial key."""
        store = FactorStore(tmp_path / "lib")
        assert store.entries() == ()
        entry = _entry("rank(ts_mean(returns, 20))", metrics={"metric": "sharpe", "score": 1.5})
        assert store.add(entry).added
        assert entry.name == default_name(entry.trial_key)
        assert store.entries() == (entry,)
        assert store.get(entry.name) == entry
        store.remove(entry.name)
        assert store.entries() == ()

    def test_the_same_factor_is_saved_once(self, tmp_path):
        """A factor already saved (same trial key, whatever its spelling) is kept under its name."""
        store = FactorStore(tmp_path)
        first = store.add(_entry("rank(ts_mean(returns, 20))", name="trend"))
        again = store.add(_entry("rank( ts_mean(returns, 20.0) )"))
        assert first.added
        assert not again.added
        assert again.entry.name == "trend"
        assert store.names == ("trend",)

    def test_a_taken_name_is_an_error(self, tmp_path):
        """Another factor under a taken name is refused, saying how to choose one."""
        store = FactorStore(tmp_path)
        store.add(_entry("rank(ts_mean(returns, 20))", name="trend"))
        with pytest.raises(SavedFactorError, match=r"taken by another factor.*--name"):
            store.add(_entry("rank(ts_mean(returns, 30))", name="trend"))

    def test_unknown_name_lists_the_known_ones(self, tmp_path):
        """Asking for a missing factor lists what there is."""
        store = FactorStore(tmp_path)
        store.add(_entry("rank(ts_mean(returns, 20))", name="trend"))
        with pytest.raises(SavedFactorError, match=r"no factor named 'trnd'.*did you mean trend"):
            store.get("trnd")
        with pytest.raises(SavedFactorError, match="no factor named"):
            store.remove("other")

    @pytest.mark.parametrize(
        ("damage", "match"),
        [
            (lambda text: text[: len(text) // 2], "is not valid JSON"),
            (lambda text: text.replace("ts_mean(returns, 20)", "ts_mean(returns, 21)"), "checksum"),
            (lambda text: text.replace('"schema": 1', '"schema": 2'), "schema must be 1"),
            (lambda _text: "[]", "must hold a JSON object"),
        ],
    )
    def test_a_damaged_entry_names_its_file_and_the_fix(self, tmp_path, damage, match):
        """A torn, edited or foreign file is an error with its path and the fix, never skipped."""
        store = FactorStore(tmp_path)
        store.add(_entry("rank(ts_mean(returns, 20))", name="trend"))
        path = tmp_path / "trend.json"
        path.write_text(damage(path.read_text()))
        with pytest.raises(SavedFactorError, match=match) as caught:
            store.entries()
        assert str(path) in str(caught.value)
        assert "stratloop library remove trend" in str(caught.value)
        store.remove("trend")
        assert store.entries() == ()

    def test_a_renamed_file_is_an_error(self, tmp_path):
        """A file whose name is not the entry's is refused (the name is how factors are found)."""
        store = FactorStore(tmp_path)
        store.add(_entry("rank(ts_mean(returns, 20))", name="trend"))
        (tmp_path / "trend.json").rename(tmp_path / "other.json")
        with pytest.raises(
            SavedFactorError, match=r"names the factor 'trend' but the file is other\.json"
        ):
            store.entries()

    def test_definitions_resolve_the_entries(self, tmp_path):
        """The store's definitions resolve each entry's expression."""
        store = FactorStore(tmp_path)
        store.add(_entry("rank(ts_mean(returns, 20))", name="trend"))
        assert str(store.definitions().resolve("trend")) == "rank(ts_mean(returns, 20))"

    def test_concurrent_saves_keep_every_factor_once(self, tmp_path):
        """Eight writers at once: every distinct factor saved once, no torn file."""
        expressions = [f"rank(ts_mean(returns, {w}))" for w in range(5, 13)]
        threads = [
            threading.Thread(target=lambda e=e: FactorStore(tmp_path).add(_entry(e)))
            for e in expressions * 2
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        entries = FactorStore(tmp_path).entries()
        assert sorted(e.expression for e in entries) == sorted(expressions)
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    @given(
        st.from_regex(FACTOR_NAME, fullmatch=True).filter(lambda n: check_factor_name(n) is None),
        st.dictionaries(st.text(max_size=8), st.floats(allow_nan=True) | st.none(), max_size=4),
        st.sampled_from([TopN(n=3), LongShort(quantile=0.2, rebalance_days=5)]),
    )
    def test_entries_round_trip(self, name, metrics, portfolio):
        """What an entry writes reads back equal (non-finite metrics become null)."""
        entry = SavedFactor.create(
            Strategy(expression="rank(returns)", portfolio=portfolio), name=name, metrics=metrics
        )
        data = json.loads(json.dumps(entry.to_json()))
        back = entry_from_json(data, LIB / f"{name}.json")
        assert back.to_json() == entry.to_json()

    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda children: st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=8), children, max_size=9),
            max_leaves=20,
        )
    )
    def test_the_reader_accepts_only_entries(self, data):
        """Any JSON value that is not an entry is a SavedFactorError naming the file."""
        with pytest.raises(SavedFactorError, match=r"x\.json"):
            entry_from_json(data, LIB / "x.json")

    @given(
        st.sampled_from(
            [
                "schema",
                "name",
                "spec",
                "trial_key",
                "run_id",
                "iteration",
                "metrics",
                "created",
                "checksum",
            ]
        ),
        st.none() | st.integers() | st.text(max_size=4),
    )
    def test_any_edited_field_is_detected(self, key, value):
        """Changing any one field of a valid entry makes it unreadable, with the file named."""
        good = _entry("rank(ts_mean(returns, 20))", name="x").to_json()
        edited = {**good, key: value}
        if edited == good:
            return
        with pytest.raises(SavedFactorError, match=r"x\.json"):
            entry_from_json(edited, LIB / "x.json")
