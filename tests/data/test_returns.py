"""The derived returns field and the history check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stratloop.data import require_history, synthetic_panel
from stratloop.data.returns import simple_returns
from stratloop.errors import DataError


class TestSimpleReturns:
    def test_matches_pandas(self):
        """Equal to pandas pct_change without filling across gaps."""
        close = synthetic_panel(10, 100, seed=4).close
        expected = pd.DataFrame(close).pct_change(fill_method=None).to_numpy()
        assert np.allclose(simple_returns(close), expected, equal_nan=True, rtol=0, atol=1e-15)


class TestRequireHistory:
    def test_short_panel(self):
        """A panel shorter than lookback + 2 is named with both numbers."""
        panel = synthetic_panel(3, 100, seed=0)
        with pytest.raises(DataError, match="100 dates but the expression looks back 252"):
            require_history(panel, 252)

    def test_long_enough(self):
        """Exactly lookback + 2 dates is enough."""
        require_history(synthetic_panel(3, 100, seed=0), 98)
