"""The packaged sp500-20 dataset and its licence."""

from __future__ import annotations

import numpy as np
import pytest

from stratloop.data import DATASETS, dataset_licence, load_dataset
from stratloop.errors import DataError


class TestLoadDataset:
    def test_shape_and_span(self):
        """The packaged data is 20 stocks over 8,313 days from 1990 to 2022."""
        panel = load_dataset("sp500-20")
        assert panel.shape == (8313, 20)
        assert str(panel.dates[0]) == "1990-01-02"
        assert str(panel.dates[-1]) == "2022-12-28"
        assert "AAPL" in panel.assets
        assert np.isfinite(panel.close).all()

    def test_read_only(self):
        """The cached panel cannot be modified by a caller."""
        with pytest.raises(ValueError, match="read-only"):
            load_dataset().close[0, 0] = 1.0

    def test_unknown_name_lists_known(self):
        """An unknown name is a DataError listing the known datasets."""
        with pytest.raises(DataError, match="known datasets: sp500-20"):
            load_dataset("sp500-500")

    def test_licence_ships(self):
        """Each dataset's licence text is packaged beside it."""
        for name in DATASETS:
            assert "BSD" in dataset_licence(name) or "Redistribution" in dataset_licence(name)
