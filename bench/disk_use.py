"""Disk written per day by the audit trail and the run history at the loop's real pace.

Run from the repository root::

    python bench/disk_use.py [--iterations N]   # writes bench/results/disk_use.json and .md

It runs ``stratloop run`` as an operator would (the local configuration:
factor graph only on the embedded data, one worker, Phase 4 on,
``fsync: batch``) and measures, per iteration, what stays on disk:

- the history as it is kept: closed segments compressed with xz (what
  rotation writes; the live remainder is compressed the same way for the
  figure, since it becomes a segment too), with gzip and the raw lines for
  comparison;
- the audit trail as it is kept: archives compressed by rotation with zstd
  (:data:`~stratloop.audit._rotation.ZSTD_LEVEL`, as ``audit/_rotation.py``
  writes them; the records of the run, concatenated, stand for an archive),
  with raw, gzip -9 (what rotation wrote before) and xz for comparison;
- the fingerprints' share of the history: the history compressed again with
  every ``fingerprint`` set to null.

**The pace.** GB/day depends on iterations per second, and on a shared host
the wall-clock pace is the scheduler's, not the loop's. So the benchmark
samples the CPU time of every process of the run (the loop and its worker)
from ``/proc`` while it runs, and counts the CPU seconds spent between the
first and the last audit record. The loop runs a batch as generate (loop
process), evaluate (worker), commit (loop process), one after the other, so
on an idle machine one iteration takes its CPU time: ``quiet pace =
iterations / CPU seconds``. ``overlap bound`` divides by the busier process
alone instead (the pace if the two never waited for each other, which the
loop does not do today). The projections are given at the wall pace, the
quiet pace, the overlap bound and 80 it/s (the pace the issue measured on
a quiet machine before walk-forward folds and factor analysis). Target:
audit + history < 1 GB/day at full speed, compression included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import lzma
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import zstandard
from _machine import describe

from stratloop.audit import iter_records
from stratloop.audit._rotation import ZSTD_LEVEL
from stratloop.loop.history import SEGMENT_BYTES, list_segments

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "disk_use.json"
BLOCK = 500
"""Iterations per block of the pace's course over the run (the comparison with stored
fingerprints grows with them)."""
ISSUE_PACE = 80.0
"""Iterations per second the issue measured on a quiet machine (before walk-forward folds)."""
TARGET_GB_PER_DAY = 1.0
FLAGS = {
    "ENABLE_GENERATION_REFACTORING": "true",
    "PHASE1_CONFIG_ENFORCEMENT": "true",
    "PHASE2_PYDANTIC_VALIDATION": "true",
    "PHASE3_STRATEGY_PATTERN": "true",
    "PHASE4_AUDIT_TRAIL": "true",
}
_TICK = os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """CPU seconds of a process and all its descendants, sampled from ``/proc`` over time."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root = root
        self.samples: list[tuple[float, dict[int, float]]] = []
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), _tree_cpu(self.root)))
            self._stop.wait(self._interval)

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()

    def at(self, moment: float) -> dict[int, float]:
        """CPU seconds per process at the last sample taken at or before ``moment``."""
        chosen = self.samples[0][1]
        for stamp, cpu in self.samples:
            if stamp > moment:
                break
            chosen = cpu
        return chosen


def _tree_cpu(root: int) -> dict[int, float]:
    """User + system CPU seconds of ``root`` and every descendant now."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    found: dict[int, float] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in cpu:
            found[pid] = cpu[pid]
        todo.extend(children.get(pid, ()))
    return found


def _sizes(data: bytes, lines: int) -> dict[str, float]:
    """Bytes per line raw, gzip -9 (audit rotation before zstd), xz -6 and zstd as rotation."""
    return {
        "raw": len(data) / lines,
        "gzip": len(gzip.compress(data, compresslevel=9, mtime=0)) / lines,
        "xz": len(lzma.compress(data, preset=6)) / lines,
        "zstd": _zstd(data) / lines,
    }


def _without(lines: bytes, *path: str) -> bytes:
    """The lines with the field at ``path`` null (where they have it), to measure its share."""
    out = []
    for line in lines.splitlines():
        record = json.loads(line)
        parent = record
        for key in path[:-1]:
            parent = parent.get(key) or {}
        if path[-1] in parent:
            parent[path[-1]] = None
        out.append(json.dumps(record, sort_keys=True, separators=(",", ":")).encode())
    return b"\n".join(out) + b"\n"


def _zstd(data: bytes) -> int:
    return len(zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data))


def _history_as_kept(history: Path) -> tuple[bytes, float]:
    """All history lines, and the xz bytes the history takes once every line is in a segment."""
    segments = list_segments(history)
    stored = sum(segment.path.stat().st_size for segment in segments)
    data = b"".join(lzma.decompress(segment.path.read_bytes()) for segment in segments)
    live = history.read_bytes()
    for start in range(0, len(live), SEGMENT_BYTES):
        stored += len(lzma.compress(live[start : start + SEGMENT_BYTES], preset=6))
    return data + live, stored


def _per_day(bytes_per_iteration: float, rate: float) -> float:
    return bytes_per_iteration * rate * 86_400 / 1e9


def _stamp(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def measure(iterations: int) -> dict[str, Any]:
    """Run the loop once in a scratch directory and measure its pace and what it wrote."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        audit = work / "audit" / "learning_audit.jsonl"
        load_before = os.getloadavg()
        process = subprocess.Popen(  # noqa: S603 - our own console script, arguments built here
            [
                str(Path(sys.executable).with_name("stratloop")),
                "run",
                "-c",
                str(ROOT / "configs" / "local.yaml"),
                "-n",
                str(iterations),
                "--runs-dir",
                str(work / "runs"),
                "--audit-path",
                str(audit),
                "--no-progress",
            ],
            cwd=work,
            env={**os.environ, **FLAGS},
            stdout=subprocess.DEVNULL,
        )
        sampler = CpuSampler(process.pid)
        if process.wait() != 0:
            raise SystemExit(f"stratloop run failed with exit code {process.returncode}")
        sampler.stop()
        load_after = os.getloadavg()
        stamps = [_stamp(record["timestamp"]) for _, _, record in iter_records(audit)]
        first, last = sampler.at(stamps[0]), sampler.at(stamps[-1])
        spent = {pid: last.get(pid, 0.0) - first.get(pid, 0.0) for pid in last}
        main = spent.get(process.pid, 0.0)
        others = sum(value for pid, value in spent.items() if pid != process.pid)
        window = stamps[-1] - stamps[0]
        history = next((work / "runs").glob("*/history.jsonl"))
        lines, history_stored = _history_as_kept(history)
        count = lines.count(b"\n")
        audit_data = b"".join(path.read_bytes() for path in sorted(audit.parent.glob("*.jsonl")))
        records = audit_data.count(b"\n")
        sizes = {"history": _sizes(lines, count), "audit": _sizes(audit_data, records)}
        sizes["history"]["as_kept_xz_segments"] = history_stored / count
        sizes["history"]["fingerprints_xz"] = (
            sizes["history"]["xz"] - len(lzma.compress(_without(lines, "fingerprint"))) / count
        )
        sizes["audit"]["metrics_zstd"] = (
            sizes["audit"]["zstd"] - _zstd(_without(audit_data, "outcome", "metrics")) / records
        )
        sizes["history"]["evaluated_share"] = lines.count(b'"status":"evaluated"') / count
        segments = len(list_segments(history))
    blocks = []
    for start in range(0, len(stamps) - BLOCK, BLOCK):
        end = start + BLOCK
        before, after = sampler.at(stamps[start]), sampler.at(stamps[end])
        cpu = sum(after.get(pid, 0.0) - before.get(pid, 0.0) for pid in after)
        blocks.append(
            {
                "from_iteration": start,
                "wall_it_per_s": round(BLOCK / (stamps[end] - stamps[start]), 1),
                "quiet_it_per_s": round(BLOCK / cpu, 1) if cpu > 0 else None,
            }
        )
    pace = {
        "wall": (len(stamps) - 1) / window,
        "quiet": (len(stamps) - 1) / (main + others),
        "overlap_bound": (len(stamps) - 1) / max(main, others),
        "issue": ISSUE_PACE,
    }
    kept = sizes["history"]["as_kept_xz_segments"] + sizes["audit"]["zstd"]
    return {
        "iterations": iterations,
        "history_segments_written": segments,
        "cpu_seconds": {"loop_process": round(main, 2), "workers": round(others, 2)},
        "window_s": round(window, 2),
        "load_average": {"before": list(load_before), "after": list(load_after)},
        "pace_it_per_s": {name: round(value, 1) for name, value in pace.items()},
        "pace_by_block": blocks,
        "bytes_per_iteration": {
            name: {
                key: round(value, 3 if key.endswith("share") else 1)
                for key, value in figures.items()
            }
            for name, figures in sizes.items()
        },
        "kept_bytes_per_iteration": round(kept, 1),
        "projections": {
            name: {
                "iterations_per_s": round(rate, 1),
                "history_gb_per_day": round(
                    _per_day(sizes["history"]["as_kept_xz_segments"], rate), 3
                ),
                "audit_gb_per_day": round(_per_day(sizes["audit"]["zstd"], rate), 3),
                "total_gb_per_day": round(_per_day(kept, rate), 3),
                "bytes_per_iteration_for_target": round(TARGET_GB_PER_DAY * 1e9 / 86_400 / rate, 1),
            }
            for name, rate in pace.items()
        },
    }


def _markdown(results: dict[str, Any]) -> str:
    sizes = results["bytes_per_iteration"]
    machine = results["machine"]
    load = results["load_average"]
    pace = results["pace_it_per_s"]
    lines = [
        "# Disk use of the audit trail and the run history",
        "",
        f"{results['iterations']} iterations of `stratloop run -c configs/local.yaml` "
        f"(Phase 4 on, one worker); {results['history_segments_written']} history segment(s) "
        f"closed during the run. Host: {machine['nproc']} cores, load average "
        f"{load['before'][0]:.1f} before, {load['after'][0]:.1f} after.",
        "",
        f"Pace: wall {pace['wall']} it/s on this host; CPU "
        f"{results['cpu_seconds']['loop_process']} s (loop process) + "
        f"{results['cpu_seconds']['workers']} s (worker) over {results['window_s']} s, so "
        f"{pace['quiet']} it/s on an idle machine (sequential), {pace['overlap_bound']} it/s "
        "if the two processes overlapped fully.",
        "",
        "Bytes per iteration:",
        "",
        f"| file | raw | gzip -9 | xz -6 | zstd -{ZSTD_LEVEL} | as kept |",
        "|---|---|---|---|---|---|",
        f"| history | {sizes['history']['raw']} | {sizes['history']['gzip']} | "
        f"{sizes['history']['xz']} | {sizes['history']['zstd']} | "
        f"{sizes['history']['as_kept_xz_segments']} (xz segments) |",
        f"| audit | {sizes['audit']['raw']} | {sizes['audit']['gzip']} | "
        f"{sizes['audit']['xz']} | {sizes['audit']['zstd']} | "
        f"{sizes['audit']['zstd']} (zstd archives) |",
        "",
        f"Fingerprints: {sizes['history']['fingerprints_xz']} bytes per iteration of the "
        f"compressed history ({sizes['history']['evaluated_share']:.1%} of the iterations "
        "were evaluated and keep one); the audit records' metrics: "
        f"{sizes['audit']['metrics_zstd']} bytes per iteration of the compressed trail.",
        "",
        "Pace over the run (per block of iterations): "
        + ", ".join(
            f"from {b['from_iteration']}: {b['wall_it_per_s']} wall / {b['quiet_it_per_s']} quiet"
            for b in results["pace_by_block"]
        )
        + ".",
        "",
        "| pace | it/s | history GB/day | audit GB/day | total GB/day | "
        "bytes/iteration the target allows | < 1 GB/day |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, p in results["projections"].items():
        met = "met" if p["total_gb_per_day"] < TARGET_GB_PER_DAY else "not met"
        lines.append(
            f"| {name} | {p['iterations_per_s']} | {p['history_gb_per_day']} | "
            f"{p['audit_gb_per_day']} | {p['total_gb_per_day']} | "
            f"{p['bytes_per_iteration_for_target']} | {met} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure and record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--output", default=RESULTS.stem, help="results file name, no suffix")
    args = parser.parse_args()
    results = {**measure(args.iterations), "machine": describe()}
    output = RESULTS.with_name(args.output)
    output.parent.mkdir(exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    output.with_suffix(".md").write_text(_markdown(results))
    print(_markdown(results))


if __name__ == "__main__":
    main()
