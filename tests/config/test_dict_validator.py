from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from config_cases import CASES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stratloop.config import StratloopConfig, validate_dict
from stratloop.config._schema import ROOT
from stratloop.errors import ConfigValidationError


def _pydantic(data: Any) -> StratloopConfig | None:
    try:
        return StratloopConfig.model_validate(data)
    except ValidationError:
        return None


def _dict(data: Any) -> StratloopConfig | None:
    try:
        return validate_dict(data)
    except ConfigValidationError:
        return None


class TestSharedCases:
    @pytest.mark.parametrize(("data", "valid"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
    def test_both_paths_give_the_expected_verdict(self, data, valid):
        """Pydantic and the dict validator accept and reject exactly the same cases."""
        assert (_pydantic(data) is not None) is valid
        assert (_dict(data) is not None) is valid

    @pytest.mark.parametrize(
        "data", [c[1] for c in CASES if c[2]], ids=[c[0] for c in CASES if c[2]]
    )
    def test_accepted_configs_are_identical(self, data):
        """When both accept, they build equal models with equal field types."""
        a, b = _pydantic(data), _dict(data)
        assert a == b
        assert a is not None
        assert b is not None
        assert type(a.generation.innovation_rate) is type(b.generation.innovation_rate) is float

    def test_lists_every_problem(self):
        """All problems are reported together, each with its path."""
        with pytest.raises(ConfigValidationError) as info:
            validate_dict({"version": 2, "generation": {"innovation_rate": "x"}, "lm": {}})
        paths = {issue.field_path for issue in info.value.issues}
        assert paths == {
            "version",
            "generation.use_factor_graph",
            "generation.innovation_rate",
            "lm",
        }


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 1, 1)),
    st.sampled_from(["fail", "fallback_to_factor_graph", "sharpe", "batch", "auto", "MY_KEY"]),
)


@st.composite
def _documents(draw: st.DrawFn) -> dict[Any, Any]:
    document: dict[Any, Any] = {}
    for name, spec in ROOT.children.items():
        if draw(st.integers(0, 9)) == 0:
            continue
        if spec.kind != "model":
            document[name] = draw(st.one_of(st.just(1), _SCALARS))
            continue
        section: dict[Any, Any] = {}
        for field in spec.children:
            if draw(st.booleans()):
                section[field] = draw(_SCALARS)
        if draw(st.integers(0, 20)) == 0:
            section[draw(st.text(max_size=5))] = 1
        document[name] = section
    return document


class TestHypothesisAgreement:
    @settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
    @given(_documents())
    def test_both_validators_agree_on_random_documents(self, document):
        """On random documents the two paths agree on the verdict and on the result."""
        a, b = _pydantic(document), _dict(document)
        assert (a is None) == (b is None)
        assert a == b

    @given(st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.booleans())
    def test_innovation_rate_verdicts_agree(self, rate):
        """Every number, bool, NaN and infinity gets the same verdict on both paths."""
        data = {"version": 1, "generation": {"use_factor_graph": None, "innovation_rate": rate}}
        expected = (
            not isinstance(rate, bool)
            and math.isfinite(float(rate) if abs(rate) < 1e300 else math.inf)
            and 0 <= rate <= 100
        )
        assert (_pydantic(data) is not None) is expected
        assert (_dict(data) is not None) is expected
