"""jsonable: the one conversion to strict JSON data behind the run files and the library."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from stratloop._json import jsonable

_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=4),
    max_leaves=20,
)


class TestJsonable:
    @given(_VALUES)
    def test_the_result_is_strict_json_that_round_trips(self, value: object) -> None:
        """Any nesting of Python data becomes text json accepts without NaN and reads back equal."""
        data = jsonable(value)
        assert json.loads(json.dumps(data, allow_nan=False)) == data

    @given(st.floats(allow_nan=True, allow_infinity=True))
    def test_a_non_finite_number_is_no_value(self, number: float) -> None:
        """NaN and the infinities become None; a finite float stays itself."""
        assert jsonable(number) == (number if math.isfinite(number) else None)

    def test_numpy_scalars_become_python_numbers(self) -> None:
        """A numpy scalar is unwrapped, and its NaN is no value like any other."""
        converted = jsonable({"n": np.int64(3), "x": np.float32(0.5), "nan": np.float64("nan")})
        assert converted == {"n": 3, "x": 0.5, "nan": None}
        assert type(converted["n"]) is int

