"""Islands against one population with the same budget, on the embedded data.

Runs the real factor-graph loop (the embedded 20 stocks, default protocol,
one worker) for each seed with one population (``search.islands: 1``) and
with islands (``search.islands`` and ``search.migration_interval`` as listed
in ``SETTINGS``), and records per run: the champion's validation score
(``loop.champion_metric``, the figure the search maximises), the iteration
that found it, the distinct trials evaluated, the redundant and exhausted
iterations, the migrations (offered, adopted) and the wall time. A higher
validation score from a wider search is also a larger multiple-testing
burden; the deflated Sharpe that ``stratloop show`` prints accounts for it,
this file only says whether the search reaches higher.

Run from the repository root: ``python bench/islands.py [ITERATIONS]``.
Results go to ``bench/results/islands-ITERATIONS.json`` and ``.md`` with the machine.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _machine import describe

from stratloop.config.models import StratloopConfig
from stratloop.flags import EnvFlagSource
from stratloop.loop import LoopRunner, read_history
from stratloop.loop.assemble import build_parts

RESULTS = Path(__file__).parent / "results"
SEEDS = (1, 2, 3, 4, 5)
SETTINGS = ((1, 50), (4, 40))
"""(islands, migration_interval) pairs; the first is the one-population baseline."""
FLAGS = {"PHASE4_AUDIT_TRAIL": "false"}
"""Every other flag unset, which means on."""


def run_once(root: Path, seed: int, islands: int, interval: int, iterations: int) -> dict[str, Any]:
    """One run; its champion's validation score and what the search did."""
    config = StratloopConfig.model_validate(
        {
            "version": 1,
            "generation": {"use_factor_graph": True, "innovation_rate": 0},
            "loop": {"iterations": iterations, "seed": seed, "runs_dir": str(root)},
            "search": {"islands": islands, "migration_interval": interval},
            "audit": {"path": str(root / "audit.jsonl")},
        }
    )

    def parts(spent: Any) -> Any:
        return build_parts(
            config,
            flags=EnvFlagSource(FLAGS),
            run_id="b",
            instance_id="bench",
            spent=spent,
            environ={},
        )

    start = time.perf_counter()
    summary = LoopRunner.create(config, parts).run()
    wall = time.perf_counter() - start
    records = read_history(summary.path / "history.jsonl").records
    champion = summary.champion or {}
    return {
        "seed": seed,
        "islands": islands,
        "migration_interval": interval,
        "champion_score": champion.get("score"),
        "champion_iteration": champion.get("iteration"),
        "distinct_trials": summary.metrics["distinct_trials"],
        "redundant": sum(r.status == "redundant" for r in records),
        "exhausted": sum(r.status == "exhausted" for r in records),
        "migrations": summary.metrics.get("migrations", 0),
        "migrations_adopted": summary.metrics.get("migrations_adopted", 0),
        "wall_s": round(wall, 1),
        "iterations_per_s": round(iterations / wall, 1),
    }


def markdown(result: dict[str, Any]) -> str:
    """The results as a table per setting, and the seeds where islands reached higher."""
    runs = result["runs"]
    lines = [
        f"# Islands against one population ({result['iterations']} iterations, embedded data)",
        "",
        f"Host: {result['machine']['cpu']}, {result['machine']['nproc']} cores, load "
        f"{result['machine']['load_average_now']} at the start, "
        f"{result['load_average_end']} at the end.",
        "",
        "| seed | islands | M | champion score | found at | distinct trials | redundant "
        "| exhausted | migrations (adopted) | it/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        score = run["champion_score"]
        lines.append(
            f"| {run['seed']} | {run['islands']} | {run['migration_interval']} | "
            f"{'-' if score is None else f'{score:.4f}'} | {run['champion_iteration']} | "
            f"{run['distinct_trials']} | {run['redundant']} | {run['exhausted']} | "
            f"{run['migrations']} ({run['migrations_adopted']}) | {run['iterations_per_s']} |"
        )
    lines.append("")
    lines.extend(
        f"- islands {s['islands']}, M {s['migration_interval']}: higher than one population "
        f"in {s['higher']} of {s['seeds']} seeds, equal in {s['equal']}; mean score "
        f"{s['mean']:.4f} against {s['baseline']:.4f}"
        for s in result["comparison"]
    )
    return "\n".join(lines) + "\n"


def compare(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per island setting: in how many seeds its champion beat the one-population run's."""
    base = {r["seed"]: r["champion_score"] or float("-inf") for r in runs if r["islands"] == 1}
    out = []
    for islands, interval in SETTINGS[1:]:
        mine = [r for r in runs if (r["islands"], r["migration_interval"]) == (islands, interval)]
        scores = [r["champion_score"] or float("-inf") for r in mine]
        out.append(
            {
                "islands": islands,
                "migration_interval": interval,
                "seeds": len(mine),
                "higher": sum(s > base[r["seed"]] for s, r in zip(scores, mine, strict=True)),
                "equal": sum(s == base[r["seed"]] for s, r in zip(scores, mine, strict=True)),
                "mean": sum(scores) / len(scores),
                "baseline": sum(base.values()) / len(base),
            }
        )
    return out


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    machine = describe()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in SEEDS:
            for islands, interval in SETTINGS:
                root = Path(tmp) / f"{seed}-{islands}-{interval}"
                runs.append(run_once(root, seed, islands, interval, iterations))
                print(json.dumps(runs[-1]), flush=True)
    result = {
        "iterations": iterations,
        "machine": machine,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
        "comparison": compare(runs),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"islands-{iterations}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"islands-{iterations}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
