"""A large universe: loading a long Parquet file, a memory-mapped store, and the loop on it.

Run from the repository root::

    python bench/large_universe.py                   # 3,000 x 5,000, 1,000 iterations
    python bench/large_universe.py --iterations 100  # a shorter loop, same panel

Writes ``bench/results/large_universe.json`` and ``.md``.

1. Loading the panel from a long Parquet file (about 12 million rows): the
   plain alternative (``pandas.read_parquet`` and a pivot per field) against
   ``load_panel`` (pyarrow column-wise, scattered into the panel) and against
   opening a store written by ``stratloop data import`` (memory-mapped, every
   digest checked). Each in a fresh process, so its peak resident memory is
   its own.
2. The loop (factor graph only) on the store with 1 and 2 workers:
   iterations per second, and per worker the peak resident set (RSS) and the
   peak proportional set (PSS: shared pages divided among the processes that
   map them). With the store the panel's pages are shared, so PSS per worker
   falls as workers are added; with the Parquet file each worker parses and
   holds its own copy (measured the same way, fewer iterations).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _machine import describe

import stratloop
from stratloop.config.models import StratloopConfig
from stratloop.data import synthetic_panel, write_panel_store

RESULTS = Path(__file__).parent / "results"

_SETUP = "import pandas as pd, pyarrow.parquet\nfrom stratloop.data import load_panel\n"
_LOADERS = {
    "pandas read_parquet + pivot": (
        "f = pd.read_parquet(PATH); "
        "p = f.pivot(index='date', columns='ticker', values='close').to_numpy()"
    ),
    "load_panel(parquet)": "p = load_panel(PATH)",
    "open store (digests checked)": "p = load_panel(STORE)",
}
"""Each loader's statement, timed after ``_SETUP`` (imports are not counted)."""


def _long_parquet(n_assets: int, n_dates: int, path: Path) -> int:
    panel = synthetic_panel(n_assets, n_dates, seed=11)
    listed = np.isfinite(panel.close).ravel()
    frame = pd.DataFrame(
        {
            "date": np.repeat(panel.dates, n_assets)[listed],
            "ticker": pd.Categorical.from_codes(
                np.tile(np.arange(n_assets), n_dates)[listed], categories=list(panel.assets)
            ),
            "close": panel.close.ravel()[listed],
        }
    )
    frame.to_parquet(path, row_group_size=1_000_000)
    return len(frame)


def _load(label: str, parquet: Path, store: Path) -> dict[str, float]:
    code = _LOADERS[label].replace("PATH", repr(str(parquet))).replace("STORE", repr(str(store)))
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
    script = (
        "import time, re\n"
        f"{_SETUP}"
        "t = time.perf_counter()\n"
        f"{code}\n"
        "s = time.perf_counter() - t\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print(s, int(hwm) / 1024)\n"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter on our own script
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout.split()
    return {"seconds": float(out[0]), "peak_rss_mb": float(out[1])}


def _descendants() -> list[int]:
    """This process's descendants (the forkserver and the workers it forks)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _memory_kib(pid: int) -> tuple[int, int]:
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        values[key] = int(value.split()[0])
    return values["Rss"], values["Pss"]


class _Sampler(threading.Thread):
    """Polls the worker processes' RSS and PSS; keeps each one's peak."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[int, tuple[int, int]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for pid in _descendants():
                try:
                    rss, pss = _memory_kib(pid)
                except (OSError, KeyError, ValueError):
                    continue
                old = self.peaks.get(pid, (0, 0))
                self.peaks[pid] = (max(old[0], rss), max(old[1], pss))


def _loop(source: Path, workers: int, iterations: int, tmp: Path) -> dict[str, Any]:
    runs = tmp / f"runs-{source.name}-{workers}"
    config = StratloopConfig.model_validate(
        {
            "version": 1,
            "generation": {"use_factor_graph": True, "innovation_rate": 0},
            "data": {"source": str(source)},
            "loop": {
                "iterations": iterations,
                "workers": workers,
                "runs_dir": str(runs),
                "eval_cache_mb": 256,
                "eval_timeout_s": 3600.0,
            },
            "audit": {"path": str(runs / "audit.jsonl")},
        }
    )
    sampler = _Sampler()
    sampler.start()
    started = time.perf_counter()
    summary = stratloop.run(config)
    seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    peaks = sorted(sampler.peaks.values(), reverse=True)[:workers]
    return {
        "workers": workers,
        "source": "store" if source.is_dir() else "parquet",
        "iterations": iterations,
        "completed": summary.iterations,
        "status": summary.status,
        "seconds": round(seconds, 2),
        "iterations_per_s": round(iterations / seconds, 3),
        "peak_rss_mb_per_worker": [round(r / 1024) for r, _ in peaks],
        "peak_pss_mb_per_worker": [round(p / 1024) for _, p in peaks],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=3000)
    parser.add_argument("--dates", type=int, default=5000)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--copy-iterations", type=int, default=100)
    parser.add_argument(
        "--load-only",
        action="store_true",
        help="Measure loading only; keep the loop results already recorded.",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        parquet = tmp / "prices.parquet"
        rows = _long_parquet(args.assets, args.dates, parquet)
        store = tmp / "store"
        write_panel_store(stratloop.data.load_panel(parquet), store)
        loads = {label: _load(label, parquet, store) for label in _LOADERS}
        print(json.dumps(loads, indent=1), flush=True)
        loops: list[dict[str, Any]] = []
        for workers in (1, 2) if not args.load_only else ():
            loops.append(_loop(store, workers, args.iterations, tmp))
            print(json.dumps(loops[-1]), flush=True)
        for workers in (1, 2) if not args.load_only else ():
            loops.append(_loop(parquet, workers, args.copy_iterations, tmp))
            print(json.dumps(loops[-1]), flush=True)
    previous = RESULTS / "large_universe.json"
    if args.load_only and previous.is_file():
        loops = json.loads(previous.read_text())["loop"]
    result = {
        "machine": describe(),
        "panel": {"assets": args.assets, "dates": args.dates, "rows": rows},
        "load": loads,
        "loop": loops,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "large_universe.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / "large_universe.md").write_text(_markdown(result))


def _markdown(result: dict[str, Any]) -> str:
    panel = result["panel"]
    lines = [
        f"# Large universe: {panel['assets']:,} assets x {panel['dates']:,} dates "
        f"({panel['rows']:,} long rows)",
        "",
        "| load | seconds | peak RSS (MiB) |",
        "|---|---|---|",
    ]
    lines += [
        f"| {label} | {v['seconds']:.2f} | {v['peak_rss_mb']:.0f} |"
        for label, v in result["load"].items()
    ]
    lines += [
        "",
        "| source | workers | iterations | it/s | peak RSS / worker MiB | peak PSS / worker MiB |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['source']} | {r['workers']} | {r['completed']}/{r['iterations']} | "
        f"{r['iterations_per_s']} | {r['peak_rss_mb_per_worker']} | {r['peak_pss_mb_per_worker']} |"
        for r in result["loop"]
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
