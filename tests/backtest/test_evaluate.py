"""The protocol on the embedded data (train, validation folds, holdout) and the golden record.

The golden record pins the reference strategy (12-1 momentum, top 5, monthly
rebalance, 10 bps) on the packaged sp500-20 data: train, validation, folds and
the holdout. A deliberate change of semantics regenerates it with
``python tests/backtest/test_evaluate.py``; any other difference is a regression.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from stratloop.backtest import Study, backtest_strategy, evaluate_strategy
from stratloop.backtest.benchmark import equal_weight_benchmark, excess_metrics
from stratloop.backtest.split import fold_layout
from stratloop.config.models import BacktestConfig
from stratloop.data import Panel, load_dataset, synthetic_panel
from stratloop.errors import BacktestError, ExpressionError
from stratloop.factors import EvalCache
from stratloop.spec import Strategy, TopN

GOLDEN = Path(__file__).parent / "golden" / "momentum_12_1_top5_monthly_10bps.json"
REFERENCE = Strategy(
    expression="delay(pct_change(close, 231), 21)", portfolio=TopN(n=5, rebalance_days=21)
)


def _record() -> dict[str, object]:
    study = Study(load_dataset("sp500-20"), BacktestConfig())
    return {
        "dataset": "sp500-20",
        "strategy": REFERENCE.model_dump(mode="json"),
        "config": BacktestConfig().model_dump(mode="json"),
        "evaluation": study.evaluate(REFERENCE).as_dict(),
        "holdout": study.holdout(REFERENCE).summary(),
    }


def _close(got: object, want: object, where: str) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict), where
        assert set(got) == set(want), where
        for key, value in want.items():
            _close(got[key], value, f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list), where
        assert len(got) == len(want), where
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            _close(a, b, f"{where}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), where
    else:
        assert got == want, where


class TestGolden:
    def test_reference_strategy_metrics(self):
        """The reference strategy reproduces the recorded train, validation, folds and holdout."""
        expected = json.loads(GOLDEN.read_text())
        actual = _record()
        assert actual["strategy"] == expected["strategy"]
        _close(actual["evaluation"], expected["evaluation"], "evaluation")
        _close(actual["holdout"], expected["holdout"], "holdout")


class TestProtocol:
    def test_train_starts_after_warm_up_and_folds_tile_the_selection(self):
        """Train starts where the 252-day signal does; each fold drops its purge; holdout at 70%."""
        panel = load_dataset()
        evaluation = evaluate_strategy(REFERENCE, panel, BacktestConfig())
        assert str(panel.dates[252]) == evaluation.train.start.isoformat()
        assert evaluation.purge == 252
        split = int(len(panel.dates) * 0.7)
        assert evaluation.holdout_start.isoformat() == str(panel.dates[split])
        assert evaluation.folds[-1].end.isoformat() == str(panel.dates[split - 1])
        days = evaluation.train.metrics.n_days + sum(f.metrics.n_days for f in evaluation.folds)
        assert days + 252 + 4 * 252 == split
        assert evaluation.validation.metrics.n_days == sum(
            f.metrics.n_days for f in evaluation.folds
        )

    def test_the_loop_evaluation_never_reads_the_holdout(self):
        """Changing every holdout price changes nothing the selection sees."""
        panel = load_dataset()
        split = int(len(panel.dates) * 0.7)
        close = panel.close.copy()
        close[split:] *= np.linspace(0.2, 5.0, len(close) - split)[:, None]
        changed = Panel(panel.dates, panel.assets, {"close": close}, panel.name)
        before = evaluate_strategy(REFERENCE, panel, BacktestConfig()).as_dict()
        after = evaluate_strategy(REFERENCE, changed, BacktestConfig()).as_dict()
        assert before == after

    def test_excess_is_over_the_equal_weight_run_of_the_same_days(self):
        """The validation excess is the strategy minus the equal-weight engine run, day by day."""
        panel = load_dataset()
        evaluation = evaluate_strategy(REFERENCE, panel, BacktestConfig())
        split = int(len(panel.dates) * 0.7)
        bench = equal_weight_benchmark(
            panel.slice_rows(0, split), 21, cost_bps=10.0, start=252, stop=split
        )
        fold = evaluation.folds[0]
        first = int(np.searchsorted(panel.dates, fold.dates[0])) - 252
        expected = bench.returns[first : first + len(fold.dates)]
        assert fold.benchmark_returns is not None
        np.testing.assert_array_equal(fold.benchmark_returns, expected)
        assert fold.excess == excess_metrics(fold.returns, expected)

    def test_rolling_folds_train_on_the_block_before(self):
        """Expanding train windows start at the train block; rolling ones at the block before."""
        expanding = fold_layout(100, 600, 800, BacktestConfig(folds=4), 10)
        rolling = fold_layout(100, 600, 800, BacktestConfig(folds=4, fold_scheme="rolling"), 10)
        assert [f.train[0] for f in expanding.folds] == [100, 100, 100, 100]
        assert [f.train for f in rolling.folds] == [(100, 200), (200, 300), (300, 400), (400, 500)]
        validations = [(210, 300), (310, 400), (410, 500), (510, 600)]
        assert [f.validation for f in rolling.folds] == validations
        assert expanding.train == (100, 200)

    def test_a_purge_longer_than_a_block_is_an_error(self):
        """Folds that leave no validation day after the purge are refused, naming the fix."""
        with pytest.raises(BacktestError, match="use fewer folds"):
            fold_layout(0, 100, 150, BacktestConfig(folds=4, purge_days=30), 5)

    def test_no_benchmark_records_no_excess(self):
        """benchmark: none gives strategy metrics only."""
        evaluation = evaluate_strategy(REFERENCE, load_dataset(), BacktestConfig(benchmark="none"))
        summary = evaluation.validation.summary()
        assert summary["benchmark"] is None
        assert "information_ratio" not in summary

    def test_a_column_benchmark_is_held(self):
        """A column of the panel as benchmark: its buy-and-hold returns, no cost."""
        panel = load_dataset()
        column = panel.assets[0]
        evaluation = evaluate_strategy(REFERENCE, panel, BacktestConfig(benchmark=column))
        train = evaluation.train
        prices = panel.close[252 : 252 + len(train.dates), 0]
        assert train.benchmark_returns is not None
        np.testing.assert_allclose(train.benchmark_returns[1:], prices[1:] / prices[:-1] - 1)
        assert train.benchmark_returns[0] == 0.0

    def test_a_price_file_benchmark_equals_the_same_column(self, tmp_path):
        """A CSV of dates and one price column gives what that column of the panel gives."""
        panel = load_dataset()
        column = panel.assets[3]
        path = tmp_path / "index.csv"
        prices = panel.close[:, 3].tolist()
        lines = ["Date,INDEX"] + [
            f"{day},{price!r}" for day, price in zip(panel.dates, prices, strict=True)
        ]
        path.write_text("\n".join(lines) + "\n")
        by_file = evaluate_strategy(REFERENCE, panel, BacktestConfig(benchmark=str(path)))
        by_column = evaluate_strategy(REFERENCE, panel, BacktestConfig(benchmark=column))
        assert by_file.validation.summary() == by_column.validation.summary()

    def test_an_unknown_benchmark_names_the_choices(self):
        """A benchmark that is neither keyword, column nor file is an error naming them."""
        with pytest.raises(BacktestError, match="not equal_weight, none, a column"):
            evaluate_strategy(REFERENCE, load_dataset(), BacktestConfig(benchmark="SPX"))

    def test_cache_gives_same_result(self):
        """Evaluating through a shared cache gives identical figures."""
        study = Study(load_dataset(), BacktestConfig())
        cache = EvalCache(max_bytes=64 * 2**20)
        first = study.evaluate(REFERENCE, cache=cache).as_dict()
        second = study.evaluate(REFERENCE, cache=cache).as_dict()
        assert first == second

    def test_backtest_strategy_keeps_the_holdout_sealed_unless_asked(self):
        """The researcher's call opens the holdout only with holdout=True."""
        sealed = backtest_strategy("rank(ts_mean(returns, 20))")
        assert sealed.holdout is None
        opened = backtest_strategy("rank(ts_mean(returns, 20))", holdout=True)
        assert opened.holdout is not None
        assert opened.holdout.benchmark_returns is not None
        assert len(opened.holdout.returns) == len(opened.holdout.dates)

    def test_bad_expression(self):
        """An expression error from the DSL reaches the caller unchanged."""
        strategy = Strategy(expression="ts_maen(close, 5)", portfolio=TopN(n=2))
        with pytest.raises(ExpressionError, match="ts_mean"):
            evaluate_strategy(strategy, load_dataset(), BacktestConfig())

    def test_signal_never_available_before_the_holdout(self):
        """A lookback longer than the selection rows is an error naming both, not a flat block."""
        panel = synthetic_panel(4, 100, seed=0, listing_gaps=False)
        strategy = Strategy(expression="ts_mean(returns, 90)", portfolio=TopN(n=2))
        with pytest.raises(BacktestError, match=r"needs 90 rows of history .* has 70"):
            Study(panel, BacktestConfig()).evaluate(strategy)

    def test_signal_never_defined_is_not_called_short_history(self):
        """A short-lookback signal without values blames its values, not the history."""
        panel = synthetic_panel(4, 100, seed=0, listing_gaps=False)
        strategy = Strategy(expression="log(rank(returns) - 2)", portfolio=TopN(n=2))
        with pytest.raises(BacktestError, match="values are undefined, not late") as raised:
            Study(panel, BacktestConfig()).evaluate(strategy)
        assert "shorter windows" not in str(raised.value)


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(_record(), indent=2, sort_keys=True) + "\n")
    sys.stdout.write(f"wrote {GOLDEN}\n")
