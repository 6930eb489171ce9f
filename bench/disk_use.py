"""Disk written per day by the audit trail and the run history at the loop's real pace.

Run from the repository root::

    python bench/disk_use.py [--iterations N]   # writes bench/results/disk_use.json and .md

It runs ``stratloop run`` as an operator would (the local configuration:
factor graph only on the embedded data, Phase 4 on, ``fsync: batch``) and
measures, per iteration:

- the audit trail as written now (each file's configuration snapshot once,
  references after it), raw and as its rotated archive (gzip, exactly what
  rotation does) — and, for comparison, the same records in the old form
  (the full snapshot inline in every record);
- the run's ``history.jsonl``, raw (as it is kept) and gzipped (what
  compressing closed segments of it would give);
- lzma for reference (not used by the writer).

The pace is the run's own (first to last audit timestamp); GB/day is
projected at that pace and at 80 iterations/s, the pace the loop reaches on
a quiet 2-core machine with the embedded data. Target: audit + history
< 1 GB/day at full speed, gzip included.
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
from pathlib import Path
from typing import Any

from _machine import describe

from stratloop.audit import iter_records

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "disk_use.json"
FULL_SPEED = 80.0
"""Iterations per second on a quiet machine (the issue measured 70-90)."""
TARGET_GB_PER_DAY = 1.0
FLAGS = {
    "ENABLE_GENERATION_REFACTORING": "true",
    "PHASE1_CONFIG_ENFORCEMENT": "true",
    "PHASE2_PYDANTIC_VALIDATION": "true",
    "PHASE3_STRATEGY_PATTERN": "true",
    "PHASE4_AUDIT_TRAIL": "true",
}


def _sizes(data: bytes, lines: int) -> dict[str, float]:
    """Bytes per line raw, gzipped (level 6, as rotation does) and lzma."""
    return {
        "raw": len(data) / lines,
        "gzip": len(gzip.compress(data, compresslevel=6, mtime=0)) / lines,
        "lzma": len(lzma.compress(data)) / lines,
    }


def _pace(audit: Path) -> float:
    """Iterations per second between the first and the last audit record."""
    stamps = [record["timestamp"] for _, _, record in iter_records(audit)]
    first = dt.datetime.fromisoformat(stamps[0].removesuffix("Z"))
    last = dt.datetime.fromisoformat(stamps[-1].removesuffix("Z"))
    return (len(stamps) - 1) / max((last - first).total_seconds(), 1e-9)


def _inline_form(audit: Path) -> bytes:
    """The same records with the full snapshot in each (the form written before)."""
    return b"".join(
        (
            json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
        ).encode()
        for _, _, record in iter_records(audit)
    )


def _per_day(bytes_per_iteration: float, rate: float) -> float:
    return bytes_per_iteration * rate * 86_400 / 1e9


def measure(iterations: int) -> dict[str, Any]:
    """Run the loop once in a scratch directory and measure what it wrote."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        audit = work / "audit" / "learning_audit.jsonl"
        subprocess.run(  # noqa: S603 - our own console script, arguments built here
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
            check=True,
            cwd=work,
            env={**os.environ, **FLAGS},
            stdout=subprocess.DEVNULL,
        )
        history = next((work / "runs").glob("*/history.jsonl"))
        history_data = history.read_bytes()
        audit_data = audit.read_bytes()
        records = audit_data.count(b"\n")
        rate = _pace(audit)
        sizes = {
            "audit_compact": _sizes(audit_data, records),
            "audit_inline_snapshot": _sizes(_inline_form(audit), records),
            "history": _sizes(history_data, history_data.count(b"\n")),
        }
    written = {
        "audit": sizes["audit_compact"]["gzip"],
        "history_raw": sizes["history"]["raw"],
        "history_gzip": sizes["history"]["gzip"],
    }
    projections = {}
    for name, pace in (("measured_pace", rate), ("full_speed", FULL_SPEED)):
        projections[name] = {
            "iterations_per_s": round(pace, 1),
            "audit_gzip_gb_per_day": round(_per_day(written["audit"], pace), 3),
            "history_raw_gb_per_day": round(_per_day(written["history_raw"], pace), 3),
            "history_gzip_gb_per_day": round(_per_day(written["history_gzip"], pace), 3),
            "total_history_raw_gb_per_day": round(
                _per_day(written["audit"] + written["history_raw"], pace), 3
            ),
            "total_if_history_gzipped_gb_per_day": round(
                _per_day(written["audit"] + written["history_gzip"], pace), 3
            ),
            "audit_inline_snapshot_raw_gb_per_day": round(
                _per_day(sizes["audit_inline_snapshot"]["raw"], pace), 3
            ),
        }
    return {
        "iterations": iterations,
        "bytes_per_iteration": {
            name: {key: round(value, 1) for key, value in figures.items()}
            for name, figures in sizes.items()
        },
        "projections": projections,
    }


def _markdown(results: dict[str, Any]) -> str:
    sizes = results["bytes_per_iteration"]
    lines = [
        "# Disk use of the audit trail and the run history",
        "",
        f"{results['iterations']} iterations of `stratloop run -c configs/local.yaml` "
        "(Phase 4 on). Bytes per iteration:",
        "",
        "| file | raw | gzip | lzma |",
        "|---|---|---|---|",
    ]
    for name, figures in sizes.items():
        lines.append(f"| {name} | {figures['raw']} | {figures['gzip']} | {figures['lzma']} |")
    lines += [
        "",
        "| pace | it/s | audit (gzip archives) | history raw | history gzip | "
        "total as written | total if history were gzipped | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, p in results["projections"].items():
        met = "met" if p["total_history_raw_gb_per_day"] < TARGET_GB_PER_DAY else "not met"
        lines.append(
            f"| {name} | {p['iterations_per_s']} | {p['audit_gzip_gb_per_day']} GB | "
            f"{p['history_raw_gb_per_day']} GB | {p['history_gzip_gb_per_day']} GB | "
            f"{p['total_history_raw_gb_per_day']} GB | "
            f"{p['total_if_history_gzipped_gb_per_day']} GB | < {TARGET_GB_PER_DAY} GB: {met} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure and record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1000)
    args = parser.parse_args()
    results = {**measure(args.iterations), "machine": describe()}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    RESULTS.with_suffix(".md").write_text(_markdown(results))
    print(_markdown(results))


if __name__ == "__main__":
    main()
