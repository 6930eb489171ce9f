"""evaluate_strategy on the embedded data, with the golden metrics record.

The golden record pins the reference strategy (12-1 momentum, top 5, monthly
rebalance, 10 bps) on the packaged sp500-20 data. A deliberate change of
semantics regenerates it with ``python tests/backtest/test_evaluate.py``;
any other difference is a regression.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from stratloop.backtest import evaluate_strategy
from stratloop.backtest.evaluate import evaluate_signal
from stratloop.config.models import BacktestConfig
from stratloop.data import load_dataset, synthetic_panel
from stratloop.errors import BacktestError, ExpressionError
from stratloop.factors import EvalCache
from stratloop.spec import Strategy, TopN

GOLDEN = Path(__file__).parent / "golden" / "momentum_12_1_top5_monthly_10bps.json"
REFERENCE = Strategy(
    expression="delay(pct_change(close, 231), 21)", portfolio=TopN(n=5, rebalance_days=21)
)


def _record() -> dict[str, object]:
    evaluation = evaluate_strategy(REFERENCE, load_dataset("sp500-20"), BacktestConfig())
    return {
        "dataset": "sp500-20",
        "strategy": REFERENCE.model_dump(mode="json"),
        "config": BacktestConfig().model_dump(mode="json"),
        "evaluation": evaluation.as_dict(),
    }


class TestGolden:
    def test_reference_strategy_metrics(self):
        """The reference strategy reproduces the recorded train and test metrics."""
        expected = json.loads(GOLDEN.read_text())
        actual = _record()
        assert actual["strategy"] == expected["strategy"]
        got, want = actual["evaluation"], expected["evaluation"]
        for key in ("train_start", "split_date", "end_date"):
            assert got[key] == want[key]
        for segment in ("train", "test"):
            for name, value in want[segment].items():
                assert got[segment][name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


class TestEvaluateStrategy:
    def test_train_starts_after_warm_up(self):
        """Train starts on the first day the 252-day signal exists, test at the split."""
        panel = load_dataset()
        evaluation = evaluate_strategy(REFERENCE, panel, BacktestConfig())
        assert str(panel.dates[252]) == evaluation.train_start.isoformat()
        assert evaluation.train.n_days + 252 + evaluation.test.n_days == len(panel.dates)

    def test_more_trials_deflate(self):
        """n_trials lowers the deflated Sharpe and nothing else."""
        panel = load_dataset()
        one = evaluate_strategy(REFERENCE, panel, BacktestConfig())
        many = evaluate_strategy(REFERENCE, panel, BacktestConfig(), n_trials=500)
        assert many.test.deflated_sharpe < one.test.deflated_sharpe
        assert many.test.sharpe == one.test.sharpe

    def test_cache_gives_same_result(self):
        """Evaluating through a shared cache gives identical metrics."""
        panel = load_dataset()
        cache = EvalCache(max_bytes=64 * 2**20)
        first = evaluate_strategy(REFERENCE, panel, BacktestConfig(), cache=cache)
        second = evaluate_strategy(REFERENCE, panel, BacktestConfig(), cache=cache)
        assert first == second

    def test_bad_expression(self):
        """An expression error from the DSL reaches the caller unchanged."""
        strategy = Strategy(expression="ts_maen(close, 5)", portfolio=TopN(n=2))
        with pytest.raises(ExpressionError, match="ts_mean"):
            evaluate_strategy(strategy, load_dataset(), BacktestConfig())

    def test_signal_never_available_in_train(self):
        """A signal that only starts in test is an error, not a flat train segment."""
        panel = synthetic_panel(4, 100, seed=0, listing_gaps=False)
        signal = np.full(panel.shape, np.nan)
        signal[80:] = 1.0
        with pytest.raises(BacktestError, match="needs more history"):
            evaluate_signal(signal, REFERENCE, panel, BacktestConfig())


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(_record(), indent=2, sort_keys=True) + "\n")
    sys.stdout.write(f"wrote {GOLDEN}\n")
