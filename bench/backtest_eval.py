"""Benchmark one candidate's evaluation: 12-1 momentum, top 5, monthly rebalance, 10 bps.

Signal plus backtest, on (a) the packaged sp500-20 data (full history),
(b) a synthetic 500 x 2,520 panel and (c) a synthetic 3,000 x 5,000 panel,
compared in the same run with a typical pandas implementation and with
vectorbt's portfolio simulation (``pip install -e '.[bench]'``).

Run from the repository root: ``python bench/backtest_eval.py [--sizes a,b,c]``.
Results go to ``bench/results/backtest_eval.json`` and ``.md`` with the machine.
"""

from __future__ import annotations

import argparse
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from _machine import describe, timed
from _memory import peak_rss_mb

from stratloop.backtest import run_backtest
from stratloop.data import Panel, load_dataset, synthetic_panel
from stratloop.factors import evaluate
from stratloop.spec import TopN

RULE = TopN(n=5, rebalance_days=21)
COST_BPS = 10.0
EXPRESSION = "delay(pct_change(close, 231), 21)"
TARGET_MS = {"a": 2.5, "b": 8.0, "c": 100.0}
RESULTS = Path(__file__).parent / "results"


def momentum(close: np.ndarray) -> np.ndarray:
    """close[t - 21] / close[t - 252] - 1, NaN during the warm-up."""
    signal = np.full_like(close, np.nan)
    np.divide(close[231:-21], close[:-252], out=signal[252:])
    signal[252:] -= 1.0
    return signal


def engine_numpy_signal(panel: Panel) -> float:
    """Stratloop's engine with the momentum signal computed in numpy."""
    return float(run_backtest(momentum(panel.close), panel, RULE, cost_bps=COST_BPS).returns.sum())


def engine_dsl_signal(panel: Panel) -> float:
    """Stratloop's engine with the signal from the DSL evaluator (no cache)."""
    signal = evaluate(EXPRESSION, panel)
    return float(run_backtest(signal, panel, RULE, cost_bps=COST_BPS).returns.sum())


def pandas_typical(close: pd.DataFrame) -> float:
    """A typical pandas version: rank on rebalance days, hold weights, daily returns."""
    signal = close.shift(21) / close.shift(252) - 1
    rebalance = np.arange(len(close)) % RULE.rebalance_days == 0
    ranks = signal[rebalance].rank(axis=1, ascending=False, method="first")
    chosen = (ranks <= RULE.n).astype(float)
    targets = chosen.div(chosen.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    weights = targets.reindex(close.index).ffill().fillna(0.0)
    returns = close.pct_change(fill_method=None).fillna(0.0)
    turnover = weights.diff().abs().sum(axis=1)
    daily = (weights.shift(1) * returns).sum(axis=1) - turnover * COST_BPS / 10_000
    return float(daily.sum())


def vectorbt_portfolio(close: pd.DataFrame) -> float:
    """vectorbt: target-percent orders on rebalance days, one cash-sharing group."""
    import vectorbt as vbt  # noqa: PLC0415 - optional bench extra, imported only when used

    signal = close.shift(21) / close.shift(252) - 1
    rebalance = np.arange(len(close)) % RULE.rebalance_days == 0
    ranks = signal.rank(axis=1, ascending=False, method="first")
    chosen = (ranks <= RULE.n).astype(float)
    targets = chosen.div(chosen.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    size = targets.where(pd.Series(rebalance, index=close.index), np.nan, axis=0)
    portfolio = vbt.Portfolio.from_orders(
        close.ffill(),
        size=size,
        size_type="targetpercent",
        fees=COST_BPS / 10_000,
        group_by=True,
        cash_sharing=True,
        call_seq="auto",
        freq="1D",
    )
    return float(portfolio.returns().sum())


def peak_memory_mb(func: Callable[[], float]) -> float:
    """Peak memory traced during one call (numpy allocations are traced), in MB."""
    tracemalloc.start()
    func()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def panels() -> dict[str, Panel]:
    """The three benchmark panels."""
    return {
        "a": load_dataset("sp500-20"),
        "b": synthetic_panel(500, 2520, seed=1),
        "c": synthetic_panel(3000, 5000, seed=2),
    }


def machine() -> dict[str, object]:
    """Where the numbers were measured, with the libraries compared."""
    try:
        import vectorbt as vbt  # noqa: PLC0415 - optional bench extra

        vbt_version = vbt.__version__
    except ImportError:
        vbt_version = "not installed"
    return describe(pandas=pd.__version__, vectorbt=vbt_version)


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="a,b,c")
    parser.add_argument("--no-vectorbt", action="store_true")
    args = parser.parse_args()
    rows = []
    for key, panel in panels().items():
        if key not in args.sizes.split(","):
            continue
        frame = pd.DataFrame(panel.close, index=pd.DatetimeIndex(panel.dates))
        repeats = {"a": 50, "b": 20, "c": 5}[key]
        row: dict[str, object] = {"size": key, "shape": list(panel.shape)}
        row["engine"] = timed(lambda p=panel: engine_numpy_signal(p), repeats)
        row["engine_dsl_signal"] = timed(lambda p=panel: engine_dsl_signal(p), repeats)
        row["pandas"] = timed(lambda f=frame: pandas_typical(f), max(3, repeats // 5))
        if not args.no_vectorbt:
            row["vectorbt"] = timed(lambda f=frame: vectorbt_portfolio(f), 1 if key == "c" else 3)
        row["engine_peak_mb"] = peak_memory_mb(lambda p=panel: engine_numpy_signal(p))
        row["engine_peak_rss_mb"] = peak_rss_mb(lambda p=panel: engine_numpy_signal(p))
        row["target_ms"] = TARGET_MS[key]
        engine_ms = row["engine"]["median_ms"]  # type: ignore[index]
        row["meets_target"] = engine_ms < TARGET_MS[key]
        for other in ("pandas", "vectorbt"):
            if other in row:
                row[f"speedup_vs_{other}"] = row[other]["median_ms"] / engine_ms  # type: ignore[index]
        rows.append(row)
        print(json.dumps(row))
    result = {"benchmark": "backtest_eval", "machine": machine(), "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "backtest_eval.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "backtest_eval.md").write_text(_markdown(result))


def _markdown(result: dict[str, object]) -> str:
    lines = [
        "# backtest_eval: 12-1 momentum, top 5, monthly, 10 bps (signal + backtest)",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in result["machine"].items()),  # type: ignore[attr-defined]
        "",
        "| size | shape | engine ms | engine + DSL signal ms | pandas ms | vectorbt ms "
        "| target ms | x pandas | x vectorbt | engine peak MB (process RSS) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:  # type: ignore[attr-defined]
        vbt_ms = row.get("vectorbt", {}).get("median_ms", float("nan"))
        lines.append(
            f"| {row['size']} | {row['shape'][0]} x {row['shape'][1]} "
            f"| {row['engine']['median_ms']:.2f} | {row['engine_dsl_signal']['median_ms']:.2f} "
            f"| {row['pandas']['median_ms']:.1f} | {vbt_ms:.1f} | {row['target_ms']} "
            f"| {row.get('speedup_vs_pandas', float('nan')):.0f} "
            f"| {row.get('speedup_vs_vectorbt', float('nan')):.0f} "
            f"| {row['engine_peak_mb']:.0f} ({row['engine_peak_rss_mb']:.0f}) |"
        )
    lines += [
        "",
        "Times are medians after one warm-up call (vectorbt's numba compilation is excluded).",
        "Peak MB is memory traced by tracemalloc during one engine call, excluding the panel;",
        "process RSS is the resident high-water mark during that call, everything included",
        "(interpreter, libraries, the panels loaded so far). Target for c: under 2 GB.",
        "The pandas version is the typical one: weights held flat between rebalances (no",
        "drift), so it does less work than the engine and vectorbt.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
