"""Benchmark the probability of backtest overfitting (CSCV) at the sizes ``stratloop holdout`` sees.

``backtest_overfitting`` over 300, 1,000 and 2,000 trials of daily returns as
long as the embedded data (8,313 rows), 16 blocks (all C(16, 8) = 12,870
combinations), in the same run as:

- ``plain``: a plain numpy re-implementation, one combination at a time
  (per-block sums, then each half's mean and std, argmax and rank), written
  from the paper's steps;
- ``previous``: the product's previous version (every combination's half
  Sharpes in one combinations x trials matrix), read from git at
  ``--previous`` (default: the commit before the chunked version).

Every timing checks that the three agree (the previous version bit for bit,
the plain one to 1e-9 on the logits). Target: well under a few seconds for
2,000 trials, so that ``stratloop holdout`` is not kept waiting.

Run from the repository root: ``python bench/pbo.py``.
Results go to ``bench/results/pbo.json`` and ``.md`` with the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
from _machine import describe

from stratloop.backtest.overfitting import backtest_overfitting
from stratloop.data import load_dataset

RESULTS = Path(__file__).parent / "results"
TRIALS = (300, 1_000, 2_000)
BLOCKS = 16
TARGET_S = 3.0
PREVIOUS = "5626b6f"


def plain_logits(returns: np.ndarray, n_blocks: int) -> np.ndarray:
    """CSCV one combination at a time, from per-block sums (no chunking, no pairing)."""
    size = len(returns) // n_blocks
    used = returns[len(returns) - size * n_blocks :]
    blocks = used.reshape(n_blocks, size, -1)
    sums, squares = blocks.sum(axis=1), (blocks * blocks).sum(axis=1)
    count = size * (n_blocks // 2)
    n_trials = returns.shape[1]
    logits = []
    for chosen in itertools.combinations(range(n_blocks), n_blocks // 2):
        inside = np.zeros(n_blocks, dtype=bool)
        inside[list(chosen)] = True
        sharpe = []
        for half in (inside, ~inside):
            mean = sums[half].sum(axis=0) / count
            var = (squares[half].sum(axis=0) - count * mean**2) / (count - 1)
            std = np.sqrt(np.maximum(var, 0.0))
            sharpe.append(np.where(std > 1e-12, mean / np.where(std > 0, std, 1.0), 0.0))
        best = int(np.argmax(sharpe[0]))
        test = sharpe[1]
        rank = (test < test[best]).sum() + ((test == test[best]).sum() + 1) / 2.0
        w = rank / (n_trials + 1)
        logits.append(np.log(w / (1 - w)))
    return np.array(logits)


def previous_version(revision: str) -> ModuleType:
    """The product's overfitting module as it was at ``revision``."""
    command = ["git", "show", f"{revision}:src/stratloop/backtest/overfitting.py"]
    # git from PATH on a revision given on our own command line
    source = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603
    path = Path(tempfile.mkdtemp()) / "overfitting_previous.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("overfitting_previous", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def seconds(func: Callable[[], object], repeats: int) -> dict[str, float]:
    """Median and best wall time in seconds (no warm-up: each call is a cold holdout)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "best_s": min(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previous", default=PREVIOUS, help="git revision of the previous version")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    previous = previous_version(args.previous)
    n_rows = len(load_dataset().dates)
    rows = []
    for n_trials in TRIALS:
        returns = np.random.default_rng(n_trials).normal(0.0002, 0.01, (n_rows, n_trials))
        ours = backtest_overfitting(returns, n_blocks=BLOCKS)
        before = previous.backtest_overfitting(returns, n_blocks=BLOCKS)
        plain = plain_logits(returns, BLOCKS)
        assert np.array_equal(ours.logits, before.logits)
        assert np.abs(ours.logits - plain).max() < 1e-9
        row = {
            "trials": n_trials,
            "rows": n_rows,
            "combinations": ours.n_combinations,
            "pbo": ours.pbo,
            "product": seconds(lambda r=returns: backtest_overfitting(r, n_blocks=BLOCKS),
                               args.repeats),
            "previous": seconds(lambda r=returns: previous.backtest_overfitting(r, n_blocks=BLOCKS),
                                args.repeats),
            "plain": seconds(lambda r=returns: plain_logits(r, BLOCKS), 1),
        }
        rows.append(row)
        print(json.dumps(row))
    result = {
        "machine": describe(),
        "target_s": TARGET_S,
        "previous_revision": args.previous,
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pbo.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# PBO (CSCV, 16 blocks, 12,870 combinations)",
        "",
        f"Machine: {result['machine']}",
        "",
        "| trials x rows | product median (best) s | previous version s | plain numpy loop s |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['trials']:,} x {r['rows']:,} | {r['product']['median_s']:.2f} "
        f"({r['product']['best_s']:.2f}) | {r['previous']['median_s']:.2f} | "
        f"{r['plain']['median_s']:.2f} |"
        for r in rows
    ]
    (RESULTS / "pbo.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
