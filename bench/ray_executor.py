"""Ray's per-task cost against a candidate's, throughput by executor, and a model for N machines.

Run from the repository root (Ray installed: ``pip install -e '.[ray]'``)::

    python bench/ray_executor.py        # writes bench/results/ray_executor.json and .md

1. Per-task overhead: 400 tasks through the local process pool and through
   Ray actors (1 and 2 workers) with an evaluator that returns constant
   metrics, so the wall time per task is the executor's own cost.
2. A candidate's cost (``evaluate_strategy`` of 12-1 momentum, top 5 monthly)
   at three panel sizes: the embedded data, 500 x 2,520 and 3,000 x 5,000.
3. The loop's throughput on the embedded data (factor graph only, 200
   iterations): local 1 and 2 workers, Ray 2 workers.
4. The model: with ``w`` workers per machine on ``N`` machines, a candidate
   costing ``c`` and an executor overhead ``o`` per task, throughput is
   ``N * w / (c + o)`` until the driver's own per-iteration cost ``d``
   (history line, champion, audit) binds at ``1 / d``. Ray's efficiency at a
   size is ``c / (c + o_ray)``; it pays off (>= 90% efficient) above the panel
   size where ``c >= 9 * o_ray``, and more machines help until ``N * w / (c +
   o_ray)`` reaches ``1 / d``.
"""

from __future__ import annotations

import json
import os
import pickle
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from _machine import describe

import stratloop
from stratloop.backtest import evaluate_strategy
from stratloop.config import default_config
from stratloop.config.models import StratloopConfig
from stratloop.data import load_dataset, synthetic_panel
from stratloop.loop.ray_workers import RayEvaluationPool
from stratloop.loop.workers import EvalTask, EvaluationPool, Evaluator
from stratloop.spec import Strategy, TopN

RESULTS = Path(__file__).parent / "results"
_TASKS = 400
_STRATEGY = Strategy(
    expression="delay(pct_change(close, 231), 21)", portfolio=TopN(n=5, rebalance_days=21)
)
_METRICS = {"sharpe": 1.0, "n_trades": 12, "annual_return": 0.1}


def _constant(_strategy: Strategy, _n_trials: int) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    return _METRICS, _METRICS


def constant_evaluator(_config: StratloopConfig) -> Evaluator:
    """Constant metrics: the executor's own cost is all that is measured."""
    return _constant


def _overhead(pool_class: type, workers: int) -> float:
    config = default_config()
    tasks = [EvalTask(i, _STRATEGY, i + 1) for i in range(_TASKS)]
    with pool_class(constant_evaluator, config, workers=workers, timeout_s=60.0) as pool:
        pool.evaluate(tasks[:20])
        started = time.perf_counter()
        pool.evaluate(tasks)
        seconds = time.perf_counter() - started
    return seconds / _TASKS * 1e3


def _candidate_ms() -> dict[str, float]:
    config = default_config().backtest
    panels = {
        "embedded (8,313 x 20)": load_dataset("sp500-20"),
        "500 x 2,520": synthetic_panel(500, 2520, seed=1),
        "3,000 x 5,000": synthetic_panel(3000, 5000, seed=1),
    }
    costs = {}
    for label, panel in panels.items():
        times = []
        for _ in range(3):
            started = time.perf_counter()
            evaluate_strategy(_STRATEGY, panel, config)
            times.append(time.perf_counter() - started)
        costs[label] = statistics.median(times) * 1e3
    return costs


def _throughput(executor: str, workers: int, tmp: Path) -> float:
    runs = tmp / f"{executor}-{workers}"
    config = StratloopConfig.model_validate(
        {
            "version": 1,
            "generation": {"use_factor_graph": True, "innovation_rate": 0},
            "loop": {
                "iterations": 200,
                "workers": workers,
                "executor": executor,
                "runs_dir": str(runs),
            },
            "audit": {"path": str(runs / "audit.jsonl")},
        }
    )
    started = time.perf_counter()
    summary = stratloop.run(config)
    return summary.iterations / (time.perf_counter() - started)


def main() -> None:
    import ray  # noqa: PLC0415 - the optional extra this benchmark is about

    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        overhead = {
            f"{name} {w}": _overhead(pool, w)
            for name, pool in (("local", EvaluationPool), ("ray", RayEvaluationPool))
            for w in (1, 2)
        }
        with tempfile.TemporaryDirectory() as name:
            rates = {
                f"{executor} {w}": _throughput(executor, w, Path(name))
                for executor, w in (("local", 1), ("local", 2), ("ray", 2))
            }
    finally:
        ray.shutdown()
    costs = _candidate_ms()
    task_bytes = len(pickle.dumps(EvalTask(0, _STRATEGY, 1)))
    result = {
        "machine": describe(),
        "overhead_ms_per_task": overhead,
        "candidate_ms": costs,
        "loop_iterations_per_s": rates,
        "task_pickle_bytes": task_bytes,
        "model": _model(overhead, costs),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ray_executor.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / "ray_executor.md").write_text(_markdown(result))
    print(_markdown(result))


def _model(overhead: Mapping[str, float], costs: Mapping[str, float]) -> dict[str, Any]:
    o_ray = overhead["ray 1"]
    o_local = overhead["local 1"]
    return {
        "ray_efficiency": {label: c / (c + o_ray) for label, c in costs.items()},
        "local_efficiency": {label: c / (c + o_local) for label, c in costs.items()},
        "pays_off_above_candidate_ms": 9 * o_ray,
        "throughput_per_machine_2_workers": {
            label: 2 / ((c + o_ray) / 1e3) for label, c in costs.items()
        },
    }


def _markdown(result: Mapping[str, Any]) -> str:
    lines = ["# Ray executor", "", "| executor, workers | overhead per task (ms) |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in result["overhead_ms_per_task"].items()]
    lines += ["", "| executor, workers | loop it/s (embedded, 200 iterations) |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in result["loop_iterations_per_s"].items()]
    model = result["model"]
    lines += [
        "",
        "| panel | candidate ms | Ray efficiency | local efficiency | it/s per 2-worker machine |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {label} | {c:.1f} | {model['ray_efficiency'][label]:.0%} | "
        f"{model['local_efficiency'][label]:.0%} | "
        f"{model['throughput_per_machine_2_workers'][label]:.1f} |"
        for label, c in result["candidate_ms"].items()
    ]
    lines += [
        "",
        f"Ray pays off (>= 90% efficient) for candidates costing more than "
        f"{model['pays_off_above_candidate_ms']:.1f} ms. A task travels as "
        f"{result['task_pickle_bytes']} bytes; the panel never travels (each node maps its store).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
