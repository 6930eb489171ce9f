import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stratloop.factors._crosssection import _rank_block, _rank_pairwise

narrow = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 40), st.integers(1, 32)),
    elements=st.sampled_from([np.nan, -1.5, -0.0, 0.0, 0.25, 2.0, 7.0]),
)


class TestRankPairwise:
    @given(narrow)
    def test_matches_sorting_rank(self, values):
        """Pairwise ranks equal the argsort ranks, ties, signed zeros and NaN included."""
        np.testing.assert_array_equal(_rank_pairwise(values), _rank_block(values))

    def test_read_only_single_column(self):
        """A read-only one-asset panel (a cached value) ranks without writing to it."""
        values = np.array([[1.0], [np.nan], [3.0]])
        values.flags.writeable = False
        np.testing.assert_array_equal(_rank_pairwise(values), [[1.0], [np.nan], [1.0]])
