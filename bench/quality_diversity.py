"""Quality-diversity search against one population, with the same budget (issue 15).

Each arm runs ``stratloop``'s real loop (factor graph only, the embedded data,
defaults otherwise) for the same number of iterations and seeds, and records
the best validation metric it reached (the champion's ``loop.champion_metric``
over the validation folds, what selection maximises) and when:

- ``single``: one population that always mutates its champion (the default);
- ``archive``: the diversity archive on (``search.archive.enabled``, default
  ``parent_rate`` 0.5);
- ``islands+archive``: ``search.islands`` populations, each with its own
  archive (only where this stratloop has islands; skipped, and said, otherwise).

Run from the repository root::

    python bench/quality_diversity.py --iterations 2000 --seeds 1 2 3 4 5

Results go to ``bench/results/quality_diversity.json`` and ``.md`` with the
machine and its load; every run's directory is kept under ``--runs-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from _machine import describe

from stratloop.config.models import SearchConfig, StratloopConfig
from stratloop.flags import EnvFlagSource
from stratloop.loop.assemble import build_parts
from stratloop.loop.history import read_history
from stratloop.loop.runner import LoopRunner

RESULTS = Path(__file__).parent / "results"
NO_AUDIT = {"PHASE4_AUDIT_TRAIL": "false"}
ISLANDS = 4
"""Islands in the ``islands+archive`` arm (their migration settings at their defaults)."""


def _has_islands() -> bool:
    return "islands" in SearchConfig.model_fields


def arms() -> dict[str, dict[str, Any]]:
    """The ``search`` section of each arm this stratloop can run."""
    out: dict[str, dict[str, Any]] = {
        "single": {},
        "archive": {"archive": {"enabled": True}},
    }
    if _has_islands():
        out["islands+archive"] = {"archive": {"enabled": True}, "islands": ISLANDS}
    return out


def run_arm(
    name: str, search: dict[str, Any], seed: int, iterations: int, workers: int, runs: Path
) -> dict[str, Any]:
    """One run of one arm; its best validation metric, when it was reached, and the time."""
    config = StratloopConfig.model_validate(
        {
            "version": 1,
            "generation": {"use_factor_graph": True, "innovation_rate": 0},
            "loop": {
                "runs_dir": str(runs),
                "iterations": iterations,
                "seed": seed,
                "workers": workers,
            },
            "audit": {"path": str(runs / "audit.jsonl")},
            "search": search,
        }
    )
    run_id = f"{name.replace('+', '-')}-s{seed}-{iterations}"

    def make(spent: Any) -> Any:
        return build_parts(
            config, flags=EnvFlagSource(NO_AUDIT), run_id=run_id, instance_id="bench", spent=spent
        )

    path = runs / run_id
    t0 = time.perf_counter()
    if (path / "history.jsonl").is_file():  # already run (an earlier invocation): read it
        status = json.loads((path / "run.json").read_text())["status"]
    else:
        status = LoopRunner.create(config, make, run_id=run_id).run().status
    seconds = time.perf_counter() - t0
    records = read_history(path / "history.jsonl").records
    metric = config.loop.champion_metric
    best, at = None, None
    for record in records:
        if record.champion:
            value = (record.selection or {}).get(metric)
            best, at = value, record.iteration_num
    archive = path / "archive.json"
    filled = (
        sum(a["filled"] for a in json.loads(archive.read_text())["archives"])
        if archive.is_file()
        else None
    )
    return {
        "arm": name,
        "seed": seed,
        "iterations": len(records),
        "status": status,
        "best_validation": best,
        "reached_at": at,
        "evaluated": sum(r.evaluated for r in records),
        "archive_filled": filled,
        "seconds": round(seconds, 1),
        "run_id": run_id,
    }


def _table(rows: list[dict[str, Any]], seeds: list[int], names: list[str]) -> list[str]:
    by = {(r["arm"], r["seed"]): r for r in rows}
    head = "| seed | " + " | ".join(names) + " |"
    lines = [head, "|" + "---|" * (len(names) + 1)]
    for seed in seeds:
        cells = []
        for name in names:
            r = by.get((name, seed))
            cells.append(
                "-"
                if r is None or r["best_validation"] is None
                else f"{r['best_validation']:.3f} (it {r['reached_at']}, {r['seconds']:.0f} s)"
            )
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return lines


def _wins(rows: list[dict[str, Any]], arm: str, seeds: list[int]) -> tuple[int, int]:
    by = {(r["arm"], r["seed"]): r["best_validation"] for r in rows}
    pairs = [
        (by[(arm, s)], by[("single", s)])
        for s in seeds
        if by.get((arm, s)) is not None and by.get(("single", s)) is not None
    ]
    return sum(a > b for a, b in pairs), len(pairs)


def _summarise(rows: list[dict[str, Any]], iterations: int, output: Path) -> None:
    """Write the summary (``.json`` and ``.md``) of every recorded run of ``iterations``."""
    rows = [r for r in rows if r["iterations"] == iterations]
    seeds = sorted({r["seed"] for r in rows})
    order = ("single", "archive", "islands+archive")
    every = [n for n in order if any(r["arm"] == n for r in rows)]
    wins = {arm: _wins(rows, arm, seeds) for arm in every if arm != "single"}
    loads = [r["load_after"] for r in rows if "load_after" in r]
    machine = describe(note="load when the summary was written")
    payload = {
        "iterations": iterations,
        "metric": "validation information_ratio of the champion (best reached)",
        "machine": machine,
        "islands_available": _has_islands(),
        "runs": rows,
        "wins_over_single": {arm: {"better": w, "of": n} for arm, (w, n) in wins.items()},
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        f"# Quality-diversity search: best validation information ratio after "
        f"{iterations} iterations",
        "",
        f"Host: {machine['nproc']} cores ({machine['cpu']}); 1-minute load average after "
        f"each run between {min(loads, default=0):.1f} and {max(loads, default=0):.1f} "
        "(the host was shared; times are wall-clock under that load).",
        "",
        *_table(rows, seeds, every),
        "",
        *(f"- {arm} better than single in {w} of {n} seeds" for arm, (w, n) in wins.items()),
    ]
    output.with_suffix(".md").write_text("\n".join(lines) + "\n")


def _read_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    """Run every arm for every seed (or the ones asked for) and record the results.

    Each finished run is appended to ``--runs-log`` (one JSON line; runs of
    several processes can share it), and the summary is rebuilt from every
    line of that log with the same ``--iterations``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--arms", nargs="+", default=None, help="default: every arm available")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--runs-dir", type=Path, default=Path("bench-runs/quality_diversity"))
    parser.add_argument("--output", type=Path, default=RESULTS / "quality_diversity.json")
    parser.add_argument("--runs-log", type=Path, default=RESULTS / "quality_diversity_runs.jsonl")
    parser.add_argument("--summarise", action="store_true", help="only rebuild the summary")
    args = parser.parse_args()
    available = arms()
    names = [] if args.summarise else args.arms or list(available)
    missing = [name for name in names if name not in available]
    if missing:
        parser.error(f"arms {missing} are not available here (available: {list(available)})")
    for seed in args.seeds if names else ():
        for name in names:
            row = run_arm(
                name, available[name], seed, args.iterations, args.workers, args.runs_dir
            )
            row["load_after"] = os.getloadavg()[0]
            print(json.dumps(row), flush=True)
            with args.runs_log.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
    _summarise(_read_log(args.runs_log), args.iterations, args.output)


if __name__ == "__main__":
    main()
