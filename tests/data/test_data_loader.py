"""Loading wide and long price files, and the errors that name the file and the problem."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratloop.data import load_panel
from stratloop.errors import DataError

WIDE = "Date,AAA,BBB\n2020-01-02,10,20\n2020-01-03,11,\n2020-01-06,12,22\n"


def _write(tmp_path, text, name="prices.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


class TestWide:
    def test_reads_close_prices(self, tmp_path):
        """A wide CSV becomes a close panel with NaN for empty cells."""
        panel = load_panel(_write(tmp_path, WIDE))
        assert panel.assets == ("AAA", "BBB")
        assert [str(d) for d in panel.dates] == ["2020-01-02", "2020-01-03", "2020-01-06"]
        assert np.isnan(panel.close[1, 1])
        assert panel.close[2, 0] == 12.0

    def test_gzip_and_parquet(self, tmp_path):
        """CSV.gz and Parquet give the same panel as the plain CSV."""
        plain = load_panel(_write(tmp_path, WIDE))
        gz = tmp_path / "prices.csv.gz"
        gz.write_bytes(gzip.compress(WIDE.encode()))
        parquet = tmp_path / "prices.parquet"
        pd.read_csv(_write(tmp_path, WIDE)).to_parquet(parquet)
        for other in (load_panel(gz), load_panel(parquet)):
            assert np.array_equal(other.close, plain.close, equal_nan=True)
            assert np.array_equal(other.dates, plain.dates)

    def test_date_range(self, tmp_path):
        """start_date and end_date keep an inclusive range."""
        panel = load_panel(
            _write(tmp_path, WIDE), start_date=dt.date(2020, 1, 3), end_date=dt.date(2020, 1, 6)
        )
        assert len(panel.dates) == 2

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("Date,A\n2020-01-03,1\n2020-01-02,2\n", "not sorted"),
            ("Date,A\n2020-01-02,1\n2020-01-02,2\n", "duplicate date 2020-01-02"),
            ("Date,A\n2020-01-02,1\n2020-01-03,0\n", "close of A on 2020-01-03 is not positive"),
            ("Date,A\n2020-01-02,1\n2020-01-03,-5\n", "is not positive"),
            ("Date,A,B\n2020-01-02,1,\n2020-01-03,2,\n", "no close price on any date: B"),
            ("Date,A\n2020-01-02,1\n2020-01-03,abc\n", "'abc' on data row 2"),
            ("Day,A\n2020-01-02,1\n", "no 'date' column"),
            ("Date,A\n01/02/2020,1\n", "not an ISO 8601 date"),
            ("Date\n2020-01-02\n", "no asset columns"),
            ("Date,A\n", "no rows"),
            ("Date,A\n2020-01-02,1\n2020-01-03,1e308\n", "close of A on 2020-01-03 is above"),
            ("Date,A,A\n2020-01-02,1,2\n", "the header repeats the column.s. A"),
            ("Date,A,B,A,B\n2020-01-02,1,2,3,4\n", "repeats the column.s. A, B"),
        ],
    )
    def test_errors_name_file_and_problem(self, tmp_path, text, message):
        """Each validation failure is a DataError naming the file and what is wrong."""
        path = _write(tmp_path, text)
        with pytest.raises(DataError, match=message) as info:
            load_panel(path)
        assert str(path) in str(info.value)

    def test_empty_range(self, tmp_path):
        """A date range outside the data is an error showing the data's span."""
        with pytest.raises(DataError, match="covers 2020-01-02 to 2020-01-06"):
            load_panel(_write(tmp_path, WIDE), start_date=dt.date(2021, 1, 1))

    def test_range_leaves_empty_asset(self, tmp_path):
        """An asset with no price inside the range is named."""
        with pytest.raises(DataError, match="no close price: BBB"):
            load_panel(
                _write(tmp_path, WIDE),
                start_date=dt.date(2020, 1, 3),
                end_date=dt.date(2020, 1, 3),
            )


class TestLong:
    TEXT = (
        "date,ticker,open,high,low,close,volume\n"
        "2020-01-03,BBB,1,2,1,2,100\n"
        "2020-01-02,AAA,1,2,1,1.5,100\n"
        "2020-01-03,AAA,1,2,1,1.6,0\n"
    )

    def test_pivots_every_field(self, tmp_path):
        """A long OHLCV file becomes one panel field per column, NaN where a row is absent."""
        panel = load_panel(_write(tmp_path, self.TEXT))
        assert set(panel.fields) == {"open", "high", "low", "close", "volume"}
        assert panel.assets == ("AAA", "BBB")
        assert panel.close[1].tolist() == [1.6, 2.0]
        assert np.isnan(panel.close[0, 1])

    def test_duplicate_pair(self, tmp_path):
        """Two rows for one date and asset are an error, never averaged."""
        text = self.TEXT + "2020-01-03,AAA,1,2,1,1.7,0\n"
        with pytest.raises(DataError, match="'AAA' has more than one row for 2020-01-03"):
            load_panel(_write(tmp_path, text))

    def test_negative_volume(self, tmp_path):
        """A negative volume is rejected while a zero volume is fine."""
        text = self.TEXT.replace(",100\n", ",-1\n", 1)
        with pytest.raises(DataError, match="volume of BBB on 2020-01-03 is negative"):
            load_panel(_write(tmp_path, text))

    def test_forced_long_without_asset_column(self, tmp_path):
        """layout='long' on a wide file says which column is missing."""
        with pytest.raises(DataError, match="asset column"):
            load_panel(_write(tmp_path, WIDE), layout="long")


class TestSource:
    def test_unknown_source(self):
        """Neither a dataset nor a file: the message lists the datasets."""
        with pytest.raises(DataError, match="sp500-20"):
            load_panel("no-such-thing")

    def test_unknown_suffix(self, tmp_path):
        """A file of an unsupported type is named with the accepted suffixes."""
        with pytest.raises(DataError, match=r"\.parquet"):
            load_panel(_write(tmp_path, WIDE, "prices.txt"))

    def test_dataset_by_name(self):
        """A dataset name loads the packaged data."""
        assert load_panel("sp500-20", start_date=dt.date(2022, 1, 1)).shape[1] == 20


class TestParserRobustness:
    @settings(max_examples=60, deadline=None)
    @given(st.text(alphabet="Date,AB0123456789-.\n x", max_size=80))
    def test_random_files_fail_only_with_data_error(self, tmp_path_factory, text):
        """Arbitrary file contents load or raise DataError, never anything else."""
        path = tmp_path_factory.mktemp("fuzz") / "prices.csv"
        path.write_text(text)
        with contextlib.suppress(DataError):
            load_panel(path)
