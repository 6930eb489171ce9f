"""One service refresh of the audit metrics on a long trail: full verify against the gauge.

``stratloop serve`` refreshes its audit figures at most every 5 s. The
previous refresh verified the whole trail keeping every record in memory,
then wrote the whole HTML report, which verified the trail a second time.
Now the service keeps one AuditGauge, whose TrailFollower verifies only the
records appended since the last refresh (plus a sha256 of the live file's
verified bytes, to catch edits) and renders only the new records through the
report code.

Scenario, per trail length in ``BENCH_SIZES`` (default 20,000 and 100,000
records): a trail written by the real writer with the default audit
configuration (50 MB and daily rotation, gzip) at 1,000 records an hour
(the rate audit_overhead.py assumes; 100,000 records are about four days),
then 10 new records appended before each refresh. Each side runs in its own
child process, so each peak RSS is its own:

- ``full``: the previous refresh, rebuilt here: ``verify_trail(keep_records=True)``,
  the completeness and timestamp aggregates over the kept records, and
  ``write_report`` over the whole trail (median of ``BENCH_FULL_REPEATS``).
- ``gauge``: ``AuditGauge.measure`` after 10 new records (median and max of
  ``BENCH_REPEATS``), once the archives are old enough for their stat to be
  trusted (as after the first 5 s in the service); and its first
  measurement, which verifies and renders everything once.

Results go to bench/results/audit_follow.json and .md.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _machine import describe

from stratloop.acceptance.audit_samples import sample_record, sample_snapshot
from stratloop.audit import AuditTrail, verify_trail
from stratloop.audit._canonical import canonical_json, digest
from stratloop.audit._files import TrailFiles
from stratloop.audit.testing import StepClock
from stratloop.config.models import AuditConfig
from stratloop.report.audit import write_report
from stratloop.service.measure import AuditGauge

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "20000,100000").split(",")]
REPEATS = int(os.environ.get("BENCH_REPEATS", "10"))
FULL_REPEATS = int(os.environ.get("BENCH_FULL_REPEATS", "2"))
NEW_RECORDS = 10
RUN = "bench"
START = dt.datetime(2025, 11, 11, 0, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(seconds=3.6)
RESULTS = Path(__file__).parent / "results" / "audit_follow.json"


def append(path: Path, first: int, count: int) -> None:
    """``count`` sample records from iteration ``first`` through the real writer."""
    snap = sample_snapshot()
    snap_hash = digest(canonical_json(snap))
    config = AuditConfig(path=str(path), fsync="never")
    clock = StepClock(START + first * STEP, STEP)
    with AuditTrail(config, run_id=RUN, instance_id="bench", clock=clock) as trail:
        for iteration in range(first, first + count):
            trail.append(
                sample_record(
                    iteration,
                    run_id=RUN,
                    instance_id="bench",
                    config_snapshot=snap,
                    config_hash=snap_hash,
                )
            )


def full_refresh(path: Path) -> dict[str, Any]:
    """What one refresh did before: a full verify keeping records, aggregates, the whole report."""
    report = verify_trail(path, keep_records=True)
    mine = {r.get("iteration_num") for r in report.records if r.get("run_id") == RUN}
    stamps = sorted(str(r["timestamp"]) for r in report.records if r.get("timestamp"))
    with tempfile.TemporaryDirectory() as directory:
        write_report([path], Path(directory) / "report.html")
    return {"records": report.record_count, "iterations": len(mine), "span": stamps[-1]}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, path: Path, size: int) -> dict[str, Any]:
    """One side of the comparison, in this (child) process."""
    next_iteration = size
    if kind == "full":
        times = []
        for _ in range(FULL_REPEATS):
            append(path, next_iteration, NEW_RECORDS)
            next_iteration += NEW_RECORDS
            start = time.perf_counter()
            full_refresh(path)
            times.append(time.perf_counter() - start)
        return {"seconds": statistics.median(times), "runs_s": times, "peak_rss_mb": _peak_mb()}
    gauge = AuditGauge(path, RUN)
    verify_s: list[float] = []
    refresh = gauge._follower.refresh  # noqa: SLF001 - timing the verifier inside the gauge

    def timed(sink: Any) -> Any:
        start = time.perf_counter()
        found = refresh(sink)
        verify_s.append(time.perf_counter() - start)
        return found

    gauge._follower.refresh = timed  # noqa: SLF001
    start = time.perf_counter()
    first = gauge.measure(size)
    first_s = time.perf_counter() - start
    assert first["html_report_success"].value == 1.0, first
    time.sleep(2.5)
    gauge.measure(size)
    times = []
    for _ in range(REPEATS):
        append(path, next_iteration, NEW_RECORDS)
        next_iteration += NEW_RECORDS
        start = time.perf_counter()
        found = gauge.measure(next_iteration - size)
        times.append(time.perf_counter() - start)
        assert found["violation_count"].value == 0.0, found
        assert "first record" not in found["violation_count"].detail, found
    return {
        "first_measure_s": first_s,
        "seconds": statistics.median(times),
        "max_s": max(times),
        "follower_refresh_s": statistics.median(verify_s[-REPEATS:]),
        "runs_s": times,
        "peak_rss_mb": _peak_mb(),
    }


def _run_child(kind: str, path: Path, size: int) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - our own interpreter running this script
        [sys.executable, __file__, "--child", kind, str(path), str(size)],
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return found


def one_size(directory: Path, size: int) -> dict[str, Any]:
    """Build a trail of ``size`` records, then measure both sides on copies of it."""
    built = directory / f"trail_{size}"
    built.mkdir()
    start = time.perf_counter()
    append(built / "learning_audit.jsonl", 0, size)
    build_s = time.perf_counter() - start
    files = TrailFiles.of(built / "learning_audit.jsonl")
    sides = {}
    for kind in ("full", "gauge"):
        copy = directory / f"{kind}_{size}"
        subprocess.run(["cp", "-a", str(built), str(copy)], check=True)  # noqa: S603, S607
        sides[kind] = _run_child(kind, copy / "learning_audit.jsonl", size)
    return {
        "records": size,
        "archives": len(files.archives),
        "trail_bytes": sum(path.stat().st_size for path in files.ordered),
        "live_file_bytes": files.live.stat().st_size,
        "build_s": round(build_s, 1),
        "full": sides["full"],
        "gauge": sides["gauge"],
        "speedup_median": round(sides["full"]["seconds"] / sides["gauge"]["seconds"], 1),
    }


def _markdown(results: dict[str, Any]) -> str:
    rows = [
        "# Audit refresh: full verify vs incremental gauge",
        "",
        f"One service refresh with {NEW_RECORDS} new records (see bench/audit_follow.py).",
        "",
        "| records | archives | trail MB | live MB | full refresh s "
        "| gauge refresh (median / max) | of which the follower | speedup "
        "| gauge first measure s | peak RSS MB full / gauge |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows += [
        f"| {r['records']:,} | {r['archives']} | {r['trail_bytes'] / 1e6:.1f} "
        f"| {r['live_file_bytes'] / 1e6:.1f} | {r['full']['seconds']:.2f} "
        f"| {r['gauge']['seconds'] * 1000:.0f} ms / {r['gauge']['max_s'] * 1000:.0f} ms "
        f"| {r['gauge']['follower_refresh_s'] * 1000:.0f} ms "
        f"| {r['speedup_median']}x | {r['gauge']['first_measure_s']:.2f} "
        f"| {r['full']['peak_rss_mb']:.0f} / {r['gauge']['peak_rss_mb']:.0f} |"
        for r in results["sizes"]
    ]
    machine = results["machine"]
    rows += [
        "",
        f"Machine: {machine['nproc']} cores, {machine['cpu']}, Python {machine['python']}; "
        f"load {machine['load_average_at_start']} at start, {machine['load_average_at_end']} "
        "at end.",
        "",
    ]
    return "\n".join(rows)


def main() -> None:
    """Both sides for every size; write the results."""
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        sizes = [one_size(Path(tmp), size) for size in SIZES]
    results: dict[str, Any] = {
        "new_records_per_refresh": NEW_RECORDS,
        "sizes": sizes,
        "machine": describe()
        | {
            "load_average_at_start": [round(x, 2) for x in load_start],
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "note": "shared 2-core machine; another engineer's benchmarks may have run meanwhile",
        },
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    RESULTS.with_suffix(".md").write_text(_markdown(results))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))))
    else:
        main()
