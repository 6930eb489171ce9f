"""jsonable: any value the records hold becomes strict JSON."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from stratloop._json import jsonable

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4),
    max_leaves=20,
)


class TestJsonable:
    @given(_VALUES)
    def test_output_is_strict_json(self, value: object) -> None:
        """Whatever the nesting, the result dumps with allow_nan=False and reads back equal."""
        converted = jsonable(value)
        assert json.loads(json.dumps(converted, allow_nan=False)) == converted

    def test_non_finite_numbers_become_none(self) -> None:
        """NaN and infinities are None; finite floats are kept as they are."""
        assert jsonable([math.nan, math.inf, -math.inf, 0.5]) == [None, None, None, 0.5]

    def test_numpy_scalars_become_python(self) -> None:
        """A numpy integer or float is its Python value, with the same non-finite rule."""
        converted = jsonable({"n": np.int64(3), "x": np.float32(0.5), "bad": np.float64("nan")})
        assert converted == {"n": 3, "x": 0.5, "bad": None}
        assert type(converted["n"]) is int
