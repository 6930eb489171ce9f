"""Panel stores and the column-wise long Parquet reader: the same panel as the CSV, shared pages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import stratloop
from stratloop.cli import app
from stratloop.config.models import StratloopConfig
from stratloop.data import (
    Panel,
    is_panel_store,
    load_dataset,
    load_panel,
    open_panel_store,
    synthetic_panel,
    write_panel_store,
)
from stratloop.data.frame import long_panel
from stratloop.errors import DataError

runner = CliRunner()


def _long_frame(panel: Panel, *, seed: int = 0) -> pd.DataFrame:
    """The panel as shuffled long rows, one per listed (date, asset)."""
    n_dates, n_assets = panel.shape
    frame = pd.DataFrame(
        {
            "date": np.repeat(panel.dates, n_assets),
            "ticker": np.tile(np.array(panel.assets, dtype=object), n_dates),
            **{field: values.ravel() for field, values in panel.fields.items()},
        }
    )
    return frame[np.isfinite(frame["close"])].sample(frac=1.0, random_state=seed)


def _same(left: Panel, right: Panel) -> None:
    assert left.assets == right.assets
    np.testing.assert_array_equal(left.dates, right.dates)
    assert sorted(left.fields) == sorted(right.fields)
    for field in left.fields:
        np.testing.assert_array_equal(left.fields[field], right.fields[field])


@pytest.fixture(scope="module")
def panel() -> Panel:
    return synthetic_panel(40, 300, seed=3)


class TestLongParquet:
    def test_parquet_and_csv_give_the_same_panel(self, panel, tmp_path):
        frame = _long_frame(panel)
        frame.to_parquet(tmp_path / "p.parquet")
        frame.assign(date=frame["date"].astype(str)).to_csv(tmp_path / "p.csv", index=False)
        from_parquet = load_panel(tmp_path / "p.parquet")
        _same(from_parquet, load_panel(tmp_path / "p.csv"))
        np.testing.assert_array_equal(from_parquet.close, panel.close)

    @pytest.mark.parametrize("kind", ["date", "timestamp", "text", "utc"])
    def test_every_date_encoding_reads_the_same_days(self, panel, tmp_path, kind):
        frame = _long_frame(panel)
        dates = pd.to_datetime(frame["date"])
        frame["date"] = {
            "date": dates.dt.date,
            "timestamp": dates,
            "text": dates.dt.strftime("%Y-%m-%d"),
            "utc": dates.dt.tz_localize("UTC"),
        }[kind]
        frame.to_parquet(tmp_path / "p.parquet")
        np.testing.assert_array_equal(load_panel(tmp_path / "p.parquet").dates, panel.dates)

    def test_a_text_price_column_is_refused_with_its_type(self, panel, tmp_path):
        frame = _long_frame(panel)
        frame["close"] = frame["close"].astype(str)
        frame.to_parquet(tmp_path / "p.parquet")
        with pytest.raises(
            DataError, match=r"field column 'close' has type (large_)?string, which is not a number"
        ):
            load_panel(tmp_path / "p.parquet")

    def test_a_repeated_date_and_asset_is_refused_not_aggregated(self, panel, tmp_path):
        frame = _long_frame(panel)
        pd.concat([frame, frame.iloc[:1]]).to_parquet(tmp_path / "p.parquet")
        row = frame.iloc[0]
        with pytest.raises(DataError, match=f"asset '{row['ticker']}' has more than one row"):
            load_panel(tmp_path / "p.parquet")

    def test_a_missing_asset_name_is_refused(self, panel, tmp_path):
        frame = _long_frame(panel)
        frame.iloc[5, frame.columns.get_loc("ticker")] = None
        frame.to_parquet(tmp_path / "p.parquet")
        with pytest.raises(DataError, match="asset on data row 6 is empty"):
            load_panel(tmp_path / "p.parquet")

    def test_a_wide_parquet_file_still_reads(self, tmp_path):
        wide = pd.DataFrame({"Date": ["2020-01-02", "2020-01-03", "2020-01-06"], "A": [1.0, 2, 3]})
        wide.to_parquet(tmp_path / "w.parquet")
        assert load_panel(tmp_path / "w.parquet").assets == ("A",)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(2, 12))
def test_row_order_never_changes_the_panel(seed, n_assets, n_dates):
    """Long rows in any order scatter to the panel pandas' pivot would build."""
    panel = synthetic_panel(n_assets, n_dates, seed=seed % 1000, listing_gaps=False)
    frame = _long_frame(panel, seed=seed)
    names = sorted(set(frame["ticker"]))
    codes = np.array([names.index(t) for t in frame["ticker"]])
    built = long_panel(
        frame["date"].to_numpy().astype("datetime64[D]"),
        codes,
        names,
        {"close": frame["close"].to_numpy()},
        source="rows",
    )
    pivot = frame.pivot(index="date", columns="ticker", values="close")  # noqa: PD010
    np.testing.assert_array_equal(built.close, pivot.to_numpy())
    assert built.assets == tuple(pivot.columns)


class TestStore:
    def test_a_store_holds_the_panel_and_maps_it_read_only(self, tmp_path):
        source = load_dataset("sp500-20")
        store = write_panel_store(source, tmp_path / "sp")
        assert is_panel_store(store)
        opened = open_panel_store(store)
        _same(opened, source)
        assert opened.name == source.name
        base = opened.close.base
        while base is not None and not isinstance(base, np.memmap):
            base = base.base
        assert isinstance(base, np.memmap), "the field is not memory-mapped"
        with pytest.raises(ValueError, match="read-only"):
            opened.close[0, 0] = 1.0

    def test_load_panel_opens_a_store_by_its_path(self, panel, tmp_path):
        write_panel_store(panel, tmp_path / "s")
        _same(load_panel(tmp_path / "s"), panel)

    def test_an_edited_field_file_is_an_error_naming_the_file(self, panel, tmp_path):
        store = write_panel_store(panel, tmp_path / "s")
        raw = bytearray((store / "close.npy").read_bytes())
        raw[-1] ^= 1
        (store / "close.npy").write_bytes(bytes(raw))
        with pytest.raises(DataError, match=r"close\.npy has changed since the store was written"):
            open_panel_store(store)

    def test_a_truncated_field_file_is_an_error(self, panel, tmp_path):
        store = write_panel_store(panel, tmp_path / "s")
        raw = (store / "close.npy").read_bytes()
        (store / "close.npy").write_bytes(raw[: len(raw) // 2])
        with pytest.raises(DataError, match="has changed"):
            open_panel_store(store)

    def test_a_store_of_another_format_is_refused(self, panel, tmp_path):
        store = write_panel_store(panel, tmp_path / "s")
        meta = json.loads((store / "panel.json").read_text())
        (store / "panel.json").write_text(json.dumps({**meta, "format": 99}))
        with pytest.raises(DataError, match="format 99, this stratloop reads format 1"):
            open_panel_store(store)

    def test_an_existing_directory_is_never_overwritten(self, panel, tmp_path):
        (tmp_path / "s").mkdir()
        with pytest.raises(DataError, match="already exists"):
            write_panel_store(panel, tmp_path / "s")
        assert list(tmp_path.iterdir()) == [tmp_path / "s"]


class TestDataCli:
    def test_import_then_info(self, panel, tmp_path):
        _long_frame(panel).to_parquet(tmp_path / "p.parquet")
        result = runner.invoke(
            app, ["data", "import", str(tmp_path / "p.parquet"), str(tmp_path / "s")]
        )
        assert result.exit_code == 0, result.output
        assert "300 dates x 40 assets" in result.output
        _same(open_panel_store(tmp_path / "s"), load_panel(tmp_path / "p.parquet"))
        result = runner.invoke(app, ["data", "info", str(tmp_path / "s")])
        assert result.exit_code == 0, result.output
        assert "assets with a price per date" in result.output

    def test_import_refuses_an_existing_directory_without_a_traceback(self, tmp_path):
        (tmp_path / "s").mkdir()
        result = runner.invoke(app, ["data", "import", "sp500-20", str(tmp_path / "s")])
        assert result.exit_code == 1
        assert "already exists" in result.output
        assert "Traceback" not in result.output


def test_a_run_on_a_store_with_two_workers_equals_a_run_on_the_file(tmp_path):
    """Workers that map the store evaluate exactly what workers that parse the file evaluate.

    The embedded closes from 2016 on: the comparison is between the two sources,
    and backtests of all 33 years made the two runs several times slower.
    """
    csv = tmp_path / "prices.csv"
    full = load_dataset("sp500-20")
    start = int(np.searchsorted(full.dates, np.datetime64("2016-01-01")))
    source = full.slice_rows(start, len(full.dates))
    pd.DataFrame(source.close, columns=list(source.assets)).assign(Date=source.dates.astype(str))[
        ["Date", *source.assets]
    ].to_csv(csv, index=False)
    write_panel_store(load_panel(csv), tmp_path / "store")

    def history(data_source: Path, runs: str) -> list[dict[str, object]]:
        config = StratloopConfig.model_validate(
            {
                "version": 1,
                "generation": {"use_factor_graph": True, "innovation_rate": 0},
                "data": {"source": str(data_source)},
                "loop": {"iterations": 12, "workers": 2, "runs_dir": str(tmp_path / runs)},
                "audit": {"path": str(tmp_path / runs / "audit.jsonl")},
            }
        )
        summary = stratloop.run(config)
        records = stratloop.read_history(summary.path / "history.jsonl").records
        return [r.comparable() for r in records]

    from_store = history(tmp_path / "store", "a")
    assert from_store == history(csv, "b")
    assert any(r["status"] == "evaluated" for r in from_store)
