"""Rollback without a restart: flip a flag in the flags file, time the first iteration under it.

Run from the repository root::

    python bench/rollback.py            # writes bench/results/rollback.json and rollback.md

For each flag (the master switch and the four phase flags) and each flag
source (a dotenv flags file, a flagd JSON file read by the OpenFeature flagd
in-process provider), the flag is turned off and back on ``--flips`` times
each while the loop runs, and every flip is timed from the moment the new
file is in place (an atomic rename, as an editor or a config-management tool
writes it) to:

- ``start``: the first iteration that runs under the new flags, by the
  timestamp the loop takes right after it reads them (the record's
  ``timestamp`` and its ``flags``) — what the guide's "rollback time" means;
- ``commit``: that iteration committed to the run's history.

Two loops: the in-process loop that ``stratloop run`` runs (the real parts on
the embedded data, factor graph only), timed by its progress hook, and
``stratloop serve --flags-file`` as a separate process, timed by reading its
run's history file. Every flags file names all five flags. The Phase 1 flip
runs with Phase 3 off, because Phase 3 requires Phase 1 (the combination is
refused, see docs/flags.md). Target: p95 < 1 s for every flag and source (the
guide allows 10 s with a restart).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from _machine import describe

from stratloop.config import default_config
from stratloop.config.models import StratloopConfig
from stratloop.flags import FLAG_VARIABLES, open_flag_source
from stratloop.iteration import IterationRecord
from stratloop.loop import LoopRunner, build_parts
from stratloop.loop.history import iter_history

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_S = 1.0
ALL_ON = dict.fromkeys(FLAG_VARIABLES, True)
SOURCES = ("dotenv", "flagd")


def _base(flag: str) -> dict[str, bool]:
    """The flags before the flip: all on, except Phase 3 when Phase 1 is the one flipped."""
    if flag == "PHASE1_CONFIG_ENFORCEMENT":
        return {**ALL_ON, "PHASE3_STRATEGY_PATTERN": False}
    return dict(ALL_ON)


def _write(path: Path, flags: Mapping[str, bool]) -> float:
    """Write ``flags`` to ``path`` (dotenv or flagd JSON by extension) atomically.

    Returns the wall time just before the new file takes the old one's place.
    """
    if path.suffix == ".json":
        text = json.dumps(
            {
                "flags": {
                    name: {
                        "state": "ENABLED",
                        "variants": {"on": True, "off": False},
                        "defaultVariant": "on" if value else "off",
                    }
                    for name, value in flags.items()
                }
            }
        )
    else:
        text = "".join(f"{name}={'true' if value else 'false'}\n" for name, value in flags.items())
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(text, encoding="utf-8")
    flipped = time.time()
    temporary.replace(path)
    return flipped


def _stamp(record: Mapping[str, Any]) -> float:
    return dt.datetime.fromisoformat(str(record["timestamp"])).timestamp()


def _matches(record_flags: Mapping[str, Any], flags: Mapping[str, bool]) -> bool:
    return all(bool(record_flags.get(name)) == value for name, value in flags.items())


class LoopGone(Exception):
    """The loop under measurement stopped; the message says why."""


class _Watch:
    """Committed records as (commit wall time, record dict), from any thread.

    Args:
        gone: says why the loop is gone, or None while it runs.
    """

    def __init__(self, gone: Callable[[], str | None] = lambda: None) -> None:
        self._records: list[tuple[float, Mapping[str, Any]]] = []
        self._cond = threading.Condition()
        self._gone = gone

    def add(self, record: Mapping[str, Any]) -> None:
        with self._cond:
            self._records.append((time.time(), record))
            self._cond.notify_all()

    def first_under(
        self, flags: Mapping[str, bool], since: float, timeout: float
    ) -> tuple[float, float] | None:
        """(start, commit) latencies of the first record after ``since`` under ``flags``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for committed, record in self._records:
                    if _stamp(record) >= since and _matches(record["flags"], flags):
                        return _stamp(record) - since, committed - since
                reason = self._gone()
                if reason is not None:
                    raise LoopGone(reason)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.5))


def _flips(
    path: Path, flag: str, flips: int, watch: _Watch, timeout: float
) -> dict[str, list[float]]:
    base = _base(flag)
    starts: list[float] = []
    commits: list[float] = []
    timeouts = 0
    for _ in range(flips):
        for value in (False, True):
            target = {**base, flag: value}
            since = _write(path, target)
            found = watch.first_under(target, since, timeout)
            if found is None:
                timeouts += 1
                continue
            starts.append(found[0])
            commits.append(found[1])
    return {"start_s": starts, "commit_s": commits, "timeouts": [float(timeouts)]}


def _config(root: Path) -> StratloopConfig:
    base = default_config()
    loop = base.loop.model_copy(
        update={"iterations": 10_000_000, "runs_dir": str(root / "runs"), "seed": 3}
    )
    audit = base.audit.model_copy(update={"path": str(root / "audit" / "trail.jsonl")})
    return base.model_copy(update={"loop": loop, "audit": audit})


class _Progress:
    def __init__(self, watch: _Watch) -> None:
        self.watch = watch

    def begin(self, _total: int, _done: int) -> None:
        """Nothing to do."""

    def committed(self, record: IterationRecord, _best: float | None) -> None:
        self.watch.add({"timestamp": record.timestamp, "flags": record.flags})

    def end(self) -> None:
        """Nothing to do."""


@contextlib.contextmanager
def _in_process_loop(root: Path, flags_file: Path) -> Iterator[_Watch]:
    """The loop `stratloop run --flags-file` runs, in a thread; its commits land in the watch."""
    config = _config(root)
    source = open_flag_source(flags_file)
    watch = _Watch()
    runner = LoopRunner.create(
        config,
        lambda spent: build_parts(
            config, flags=source, run_id="rollback", instance_id="bench", spent=spent
        ),
        run_id="rollback",
    )
    thread = threading.Thread(target=runner.run, args=(_Progress(watch),), daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        runner.request_stop()
        thread.join(120)
        close: Callable[[], None] | None = getattr(source, "close", None)
        if close is not None:
            close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _serve(root: Path, flags_file: Path) -> Iterator[_Watch]:
    """`stratloop serve --flags-file` as a process; its history lines land in the watch."""
    port = _free_port()
    env = {
        **os.environ,
        "STRATLOOP_LOOP__RUNS_DIR": str(root / "serve-runs"),
        "STRATLOOP_AUDIT__PATH": str(root / "serve-audit" / "trail.jsonl"),
        "STRATLOOP_LOOP__ITERATIONS": "10000000",
    }
    stratloop = str(Path(sys.executable).with_name("stratloop"))
    argv = [stratloop, "serve", "--environment", "local", "--flags-file", str(flags_file)]
    log = (root / "serve.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own command
        [*argv, "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    watch = _Watch(lambda: _exited(process, root / "serve.log"))
    stop = threading.Event()

    def follow() -> None:
        history = None
        while history is None and not stop.is_set():
            runs = sorted((root / "serve-runs").glob("*/history.jsonl"))
            history = runs[-1] if runs else None
            time.sleep(0.05)
        if history is None:
            return
        seen = 0
        while not stop.is_set():
            for record in iter_history(history, start=seen):
                watch.add(json.loads(record.to_json()))
                seen = record.iteration_num + 1
            time.sleep(0.02)

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
                break
            time.sleep(0.2)
        yield watch
    finally:
        stop.set()
        process.terminate()
        process.wait(60)
        follower.join(5)
        log.close()


def _exited(process: subprocess.Popen[bytes], log: Path) -> str | None:
    """Why the serve process is gone (the end of its output), or None while it runs."""
    if process.poll() is None:
        return None
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return f"serve exited with {process.returncode}: {lines[-1] if lines else 'no output'}"


def _summary(samples: dict[str, list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(samples["start_s"]), "timeouts": int(samples["timeouts"][0])}
    for name in ("start_s", "commit_s"):
        values = samples[name]
        if values:
            out[name] = {
                "p50": round(statistics.median(values), 4),
                "p95": round(float(np.percentile(values, 95)), 4),
                "max": round(max(values), 4),
            }
    start = out.get("start_s")
    out["meets_target"] = bool(start) and out["timeouts"] == 0 and start["p95"] < TARGET_P95_S
    return out


def _measure(
    loop_name: str,
    source: str,
    flags_file: Path,
    watch: _Watch,
    flips: int,
    timeout: float,
    results: dict[str, Any],
) -> None:
    if watch.first_under(ALL_ON, 0.0, 120) is None:
        raise LoopGone(f"{loop_name}/{source}: the loop committed nothing in 120 s")
    for flag in FLAG_VARIABLES:
        _write(flags_file, _base(flag))
        watch.first_under(_base(flag), time.time() - 1, timeout)
        summary = _summary(_flips(flags_file, flag, flips, watch, timeout))
        results[f"{loop_name}/{source}/{flag}"] = summary
        print(loop_name, source, flag, summary, flush=True)


def run(flips: int, timeout: float, loops: tuple[str, ...]) -> dict[str, Any]:
    """Every flag, source and loop; the p50/p95/max latencies and whether the target is met."""
    results: dict[str, Any] = {}
    for loop_name in loops:
        for source in SOURCES:
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                flags_file = root / ("flags.json" if source == "flagd" else "flags.env")
                _write(flags_file, ALL_ON)
                context = _in_process_loop if loop_name == "run" else _serve
                try:
                    with context(root, flags_file) as watch:
                        _measure(loop_name, source, flags_file, watch, flips, timeout, results)
                except LoopGone as gone:
                    results[f"{loop_name}/{source}/*"] = {"error": str(gone), "meets_target": False}
                    print(loop_name, source, "failed:", gone, flush=True)
    return results


def _markdown(report: Mapping[str, Any]) -> str:
    lines = [
        "# Rollback latency (flags file edit to the first iteration under the new flags)",
        "",
        f"Machine: {report['machine']['nproc']} cores, load {report['machine']['load_average_now']}"
        f"; {report['flips']} flips off and {report['flips']} on per flag; target p95 < "
        f"{TARGET_P95_S:g} s.",
        "",
        "| loop | source | flag | n | start p50 | start p95 | start max | commit p95 | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, row in report["results"].items():
        loop_name, source, flag = key.split("/")
        if "error" in row:
            error = row["error"] if len(row["error"]) < 160 else row["error"][:160] + "…"
            lines.append(f"| {loop_name} | {source} | all | - | {error} | | | | NO |")
            continue
        start, commit = row.get("start_s", {}), row.get("commit_s", {})
        lines.append(
            f"| {loop_name} | {source} | {flag} | {row['n']} | {start.get('p50', '-')} s "
            f"| {start.get('p95', '-')} s | {start.get('max', '-')} s | {commit.get('p95', '-')} s "
            f"| {'yes' if row['meets_target'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flips", type=int, default=10, help="Flips off (and on) per flag.")
    parser.add_argument("--timeout", type=float, default=30.0, help="Longest wait per flip, s.")
    parser.add_argument("--loops", default="run,serve", help="run, serve or both.")
    parser.add_argument("--output", type=Path, default=RESULTS / "rollback.json")
    args = parser.parse_args()
    started = describe()
    results = run(args.flips, args.timeout, tuple(args.loops.split(",")))
    report = {
        "machine": started,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "flips": args.flips,
        "target_p95_s": TARGET_P95_S,
        "all_met": all(row["meets_target"] for row in results.values()),
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    args.output.with_suffix(".md").write_text(_markdown(report), encoding="utf-8")
    print(f"wrote {args.output}; all met: {report['all_met']}")


if __name__ == "__main__":
    main()
