"""The numpy time-series kernels' internal paths against pandas."""

import numpy as np
import pandas as pd
import pytest

from stratloop.factors._timeseries import ts_rank


class TestTsRankCounters:
    @pytest.mark.parametrize("window", [128, 129, 300])
    def test_byte_and_int_counters_match_pandas(self, window):
        """The numpy ts_rank counts in bytes up to window 128 and in int32 above, same ranks."""
        rng = np.random.default_rng(window)
        values = np.round(rng.normal(0, 3, (window + 40, 3)))
        values[window + 5, 1] = np.nan
        expected = pd.DataFrame(values).rolling(window, min_periods=window).rank(pct=True)
        np.testing.assert_allclose(ts_rank(values, window), expected.to_numpy(), rtol=1e-12)
