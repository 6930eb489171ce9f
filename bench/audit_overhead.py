"""Per-record audit overhead against Python logging with RotatingFileHandler, in the same run.

Both sides get the same prepared inputs. The baseline builds the same record
dict and logs its JSON through ``logging`` (which never fsyncs); the trail
builds, flags, redacts, hashes, serialises and writes through AuditTrail
with each fsync policy. Results go to bench/results/audit_overhead.json.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from stratloop.audit import AuditTrail, build_record
from stratloop.audit._canonical import canonical_json, digest
from stratloop.audit.drills import _outcome_of
from stratloop.audit.samples import SAMPLE_FLAGS, sample_record
from stratloop.audit.testing import sample_snapshot
from stratloop.config.models import AuditConfig

N = int(os.environ.get("BENCH_N", "5000"))


def _inputs() -> Any:
    snap = sample_snapshot()
    snap_hash = digest(canonical_json(snap))
    samples = [
        sample_record(i, run_id="b", instance_id="b", config_snapshot=snap, config_hash=snap_hash)
        for i in range(N)
    ]
    return snap, snap_hash, samples, [_outcome_of(s) for s in samples]


def _build(sample: Any, outcome: Any, snap: Any, snap_hash: str) -> Any:
    return build_record(
        iteration_num=sample.iteration_num,
        run_id="b",
        instance_id="b",
        outcome=outcome,
        status="success",
        metrics=sample.outcome["metrics"],
        timings={"generate_ms": 1.5, "backtest_ms": 12.0, "total_ms": 14.0},
        config_snapshot=snap,
        config_hash=snap_hash,
        flags=SAMPLE_FLAGS,
        champion=False,
        llm_usage=sample.llm_usage,
    )


def _stats(times: list[float]) -> dict[str, float]:
    arr = np.array(times)
    return {
        q: round(float(np.percentile(arr, p)), 2)
        for q, p in (("p50_us", 50), ("p95_us", 95), ("p99_us", 99), ("max_us", 100))
    }


def bench_logging(directory: Path, inputs: Any) -> dict[str, float]:
    snap, snap_hash, samples, outcomes = inputs
    logger = logging.getLogger("bench.audit")
    logger.propagate = False
    handler = logging.handlers.RotatingFileHandler(
        directory / "logging.jsonl", maxBytes=50 * 1024 * 1024, backupCount=5
    )
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    times = []
    for sample, outcome in zip(samples, outcomes, strict=True):
        start = time.perf_counter_ns()
        record = _build(sample, outcome, snap, snap_hash).body()
        logger.info(json.dumps(record, sort_keys=True))
        times.append((time.perf_counter_ns() - start) / 1000)
    handler.close()
    logger.removeHandler(handler)
    return _stats(times)


def bench_trail(directory: Path, inputs: Any, fsync: str) -> dict[str, float]:
    snap, snap_hash, samples, outcomes = inputs
    path = directory / f"trail_{fsync}.jsonl"
    times = []
    with AuditTrail(AuditConfig(path=str(path), fsync=fsync), run_id="b", instance_id="b") as trail:
        for sample, outcome in zip(samples, outcomes, strict=True):
            start = time.perf_counter_ns()
            trail.append(_build(sample, outcome, snap, snap_hash))
            times.append((time.perf_counter_ns() - start) / 1000)
    stats = _stats(times)
    stats["bytes_per_record"] = round(path.stat().st_size / N, 1)
    return stats


def main() -> None:
    inputs = _inputs()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        directory = Path(tmp)
        results = {
            "logging_rotating_file_handler": bench_logging(directory, inputs),
            "trail_fsync_never": bench_trail(directory, inputs, "never"),
            "trail_fsync_batch": bench_trail(directory, inputs, "batch"),
            "trail_fsync_always": bench_trail(directory, inputs, "always"),
        }
    per_record = results["trail_fsync_batch"]["bytes_per_record"]
    results["disk"] = {
        "bytes_per_record": per_record,
        "gb_per_day_at_1000_iterations_per_hour": round(per_record * 24_000 / 1e9, 4),
        "guide_budget_gb_per_day": 1.0,
    }
    results["targets"] = {
        "batch_p99_le_logging_p99": results["trail_fsync_batch"]["p99_us"]
        <= results["logging_rotating_file_handler"]["p99_us"],
        "always_p99_under_1ms": results["trail_fsync_always"]["p99_us"] < 1000,
    }
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    results["machine"] = {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "records": N,
        "note": "shared 2-core machine, other processes running",
    }
    out = Path(__file__).parent / "results" / "audit_overhead.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
