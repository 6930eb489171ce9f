from __future__ import annotations

import datetime as dt
import enum
import math
import sys
from typing import Any

import pytest
from config_cases import CASES, doc, gen
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from stratloop.config import StratloopConfig, validate_dict
from stratloop.config._accept import Reject, _float_range, compile_section
from stratloop.config._schema import ROOT, FieldSpec

_ACCEPT = compile_section(ROOT)


def _pydantic(data: Any) -> StratloopConfig | None:
    try:
        return StratloopConfig.model_validate(data)
    except ValidationError:
        return None


def _accepted(data: Any) -> StratloopConfig | None:
    try:
        built = _ACCEPT(data)
    except Reject:
        return None
    assert isinstance(built, StratloopConfig)
    return built


def _assert_same_build(a: BaseModel, b: BaseModel) -> None:
    """Same class, field order, values, exact value types and fields-set."""
    assert type(a) is type(b)
    assert list(a.__dict__) == list(b.__dict__)
    assert a.model_fields_set == b.model_fields_set
    assert a.__pydantic_extra__ is b.__pydantic_extra__ is None
    assert a.__pydantic_private__ is b.__pydantic_private__ is None
    for name, value in a.__dict__.items():
        other = b.__dict__[name]
        if isinstance(value, BaseModel):
            _assert_same_build(value, other)
        else:
            assert type(value) is type(other), name
            assert value == other, name


class TestSharedCases:
    @pytest.mark.parametrize(("data", "valid"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
    def test_accept_path_never_accepts_what_pydantic_rejects(self, data, valid):
        """The accept path takes a subset of the valid cases and rejects every invalid one."""
        built = _accepted(data) if isinstance(data, dict) else None
        if not valid:
            assert built is None
        elif built is not None:
            expected = _pydantic(data)
            assert expected is not None
            _assert_same_build(built, expected)

    def test_every_valid_plain_case_takes_the_accept_path(self):
        """Valid documents of plain dicts and exact types never fall back to the full check."""
        plain = [c[1] for c in CASES if c[2] and isinstance(c[1], dict)]
        assert plain
        assert all(_accepted(data) is not None for data in plain)


class TestBuild:
    def test_full_document_is_built_like_pydantic(self):
        """All six sections with every field: same values, types, order and fields-set."""
        data = doc(
            generation=gen(use_factor_graph=None, innovation_rate=10, max_window=5),
            llm={"temperature": 1, "timeout_s": 0.5, "max_cost_per_run": None, "enabled": True},
            data={"end_date": dt.date(2020, 1, 2), "source": "x", "layout": "long"},
            backtest={"split_date": dt.date(2019, 1, 1), "cost_bps": 0},
            loop={"seed": 2**63 - 1, "champion_metric": "calmar"},
            audit={"compress": False, "rotate_max_bytes": 1024},
        )
        built = _accepted(data)
        expected = _pydantic(data)
        assert built is not None
        assert expected is not None
        _assert_same_build(built, expected)
        assert validate_dict(data) == expected

    def test_absent_sections_are_the_defaults(self):
        """A section left out is the model's default, equal to Pydantic's."""
        built = _accepted(doc())
        assert built is not None
        assert built.llm == StratloopConfig.model_fields["llm"].default
        assert built.model_fields_set == {"version", "generation"}

    def test_model_instances_are_taken_as_they_are(self):
        """A section given as an already validated model is kept, as Pydantic does."""
        section = StratloopConfig.model_validate(doc()).generation
        built = _accepted({"version": 1, "generation": section})
        assert built is not None
        assert built.generation is section

    def test_input_is_not_changed(self):
        """Ints given for float fields are converted in the model, not in the document."""
        data = doc(generation=gen(innovation_rate=7))
        _accepted(data)
        assert type(data["generation"]["innovation_rate"]) is int


class _Level(enum.IntEnum):
    ONE = 1


class _Text(str):
    __slots__ = ()


_EDGES: list[tuple[str, str, Any]] = [
    ("generation", "innovation_rate", 100),
    ("generation", "innovation_rate", 100.0),
    ("generation", "innovation_rate", math.nextafter(100.0, math.inf)),
    ("generation", "innovation_rate", -0.0),
    ("generation", "innovation_rate", math.nextafter(0.0, -math.inf)),
    ("generation", "innovation_rate", 10**400),
    ("generation", "innovation_rate", _Level.ONE),
    ("generation", "max_window", 10_000),
    ("generation", "max_window", 10_001),
    ("generation", "max_window", 0),
    ("generation", "max_window", 5.0),
    ("generation", "max_window", _Level.ONE),
    ("generation", "on_llm_failure", _Text("fail")),
    ("generation", "on_llm_failure", _Text("nope")),
    ("generation", "use_factor_graph", _Level.ONE),
    ("generation", "user_factors", _Text("f.yaml")),
    ("llm", "timeout_s", 0),
    ("llm", "timeout_s", 0.0),
    ("llm", "timeout_s", sys.float_info.min),
    ("llm", "timeout_s", 5e-324),
    ("llm", "timeout_s", 86_400),
    ("llm", "timeout_s", math.nextafter(86_400.0, math.inf)),
    ("llm", "cost_per_1k_tokens", sys.float_info.max),
    ("llm", "cost_per_1k_tokens", math.inf),
    ("llm", "cost_per_1k_tokens", 2**1024),
    ("llm", "cost_per_1k_tokens", 2**1023),
    ("llm", "max_tokens_per_run", 10**30),
    ("llm", "max_cost_per_run", 0),
    ("llm", "api_key_env", "OK_1"),
    ("llm", "api_key_env", "1BAD"),
    ("llm", "api_key_env", "KEY\n"),
    ("llm", "enabled", 1),
    ("llm", "enabled", None),
    ("backtest", "train_fraction", 1),
    ("backtest", "train_fraction", math.nextafter(1.0, 0.0)),
    ("backtest", "train_fraction", 5e-324),
    ("backtest", "split_date", dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
    ("data", "source", ""),
    ("data", "source", "x"),
    ("data", "start_date", None),
    ("loop", "seed", 2**63 - 1),
    ("loop", "seed", 2**63),
    ("loop", "champion_metric", "Sharpe"),
    ("audit", "fsync", None),
]


class TestEdges:
    @pytest.mark.parametrize(("section", "field", "value"), _EDGES)
    def test_boundary_and_odd_values_keep_pydantics_verdict(self, section, field, value):
        """At bounds, limits, huge ints and subclasses: Pydantic's verdict and exact build."""
        body = gen() if section == "generation" else {}
        data = doc(**{section: {**body, field: value}})
        expected = _pydantic(data)
        built = _accepted(data)
        if expected is None:
            assert built is None
        elif built is not None:
            _assert_same_build(built, expected)
        if expected is not None:
            _assert_same_build(validate_dict(data), expected)

    def test_non_dict_sections_fall_back_to_the_full_check(self):
        """A dict subclass section is not the accept path's, but the full check accepts it."""

        class Section(dict[str, Any]):
            pass

        data = doc(llm=Section(enabled=True))
        assert _accepted(data) is None
        assert validate_dict(data) == _pydantic(data)


class TestFloatRange:
    def test_strict_bounds_become_the_next_float_inside(self):
        """Bounds gt 0 and lt 1 become the closed range from the smallest subnormal to 1 - ulp."""
        spec = FieldSpec(path="x", kind="float", bounds=(None, 0.0, None, 1.0))
        assert _float_range(spec) == (5e-324, math.nextafter(1.0, 0.0))

    def test_missing_bounds_are_the_finite_limits(self):
        """Unbounded sides stop at the largest finite float, so infinities fall outside."""
        spec = FieldSpec(path="x", kind="float")
        assert _float_range(spec) == (-sys.float_info.max, sys.float_info.max)

    def test_a_bound_no_float_represents_has_no_range(self):
        """An int bound that rounds as a float leaves the field to the general checker."""
        spec = FieldSpec(path="x", kind="float", bounds=(2**53 + 1, None, None, None))
        assert _float_range(spec) is None


def _valid_value(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Values the field accepts, mostly of the exact stored type, including bounds."""
    options: list[st.SearchStrategy[Any]] = []
    if spec.nullable:
        options.append(st.none())
    ge, gt, le, lt = spec.bounds
    if spec.kind == "int":
        low = ge if ge is not None else (gt + 1 if gt is not None else -(10**30))
        high = le if le is not None else (lt - 1 if lt is not None else 10**30)
        options.append(st.integers(int(low), int(high)))
    elif spec.kind == "float":
        low = ge if ge is not None else gt
        high = le if le is not None else lt
        options.append(
            st.floats(
                min_value=low,
                max_value=high,
                exclude_min=gt is not None,
                exclude_max=lt is not None,
                allow_nan=False,
                allow_infinity=False,
            )
        )
        options.append(st.integers(-(10**6), 10**6))
    elif spec.kind == "bool":
        options.append(st.booleans())
    elif spec.kind == "literal":
        options.append(st.sampled_from(spec.literals))
    elif spec.kind == "date":
        options.append(st.dates())
    elif spec.kind == "str":
        options.append(st.from_regex(spec.pattern, fullmatch=True) if spec.pattern else st.text())
    return st.one_of(options)


@st.composite
def _near_valid_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Documents of mostly valid values, in random key order, some with one bad value."""
    document: dict[str, Any] = {"version": 1}
    for name, spec in ROOT.children.items():
        if spec.kind != "model" or (not spec.required and draw(st.booleans())):
            continue
        fields = [f for f in spec.children.values() if f.required or draw(st.booleans())]
        fields = draw(st.permutations(fields))
        document[name] = {f.path.rsplit(".", 1)[1]: draw(_valid_value(f)) for f in fields}
    if draw(st.integers(0, 3)) == 0:
        section = draw(st.sampled_from(sorted(k for k in document if k != "version")))
        key = draw(st.sampled_from([*ROOT.children[section].children, "unknown"]))
        document[section][key] = draw(
            st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=3))
        )
    return document


class TestHypothesis:
    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(_near_valid_documents())
    def test_accept_path_builds_exactly_what_pydantic_builds(self, document):
        """On near-valid documents: accepted only if valid, and then built exactly alike."""
        expected = _pydantic(document)
        built = _accepted(document)
        if expected is None:
            assert built is None
        else:
            assert built is not None
            _assert_same_build(built, expected)
