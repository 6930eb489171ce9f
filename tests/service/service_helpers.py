"""A small real environment (eight years of the embedded data), a real server process, records.

Eight years: the walk-forward folds and the sealed holdout need that much for
every candidate to be evaluated (with two, most iterations fail, and /health
says so).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from iteration_records import record_at
from run_helpers import ALL_ON, run_config
from stratloop.iteration import IterationRecord


def stop(process: subprocess.Popen[Any]) -> None:
    """Ask ``process`` to end, and kill it if it has not within 30 s."""
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_environment(
    root: Path, *, iterations: int = 8, port: int = 1, loop_extra: str = ""
) -> Path:
    """Write environments/t.yaml and configs/t.yaml under ``root``.

    The configuration runs the factor graph alone on 2012-2019, two candidates
    a batch; ``loop_extra`` adds lines to its ``loop`` section.
    """
    (root / "environments").mkdir(parents=True, exist_ok=True)
    (root / "configs").mkdir(exist_ok=True)
    config = run_config(
        start="2012-01-01",
        end="2019-12-31",
        iterations=iterations,
        batch_size=2,
        llm_off=True,
        extra="  min_trades: 0\n" + loop_extra,
    )
    (root / "configs" / "t.yaml").write_text(config)
    (root / "environments" / "t.yaml").write_text(
        "config: configs/t.yaml\ndata_source: sp500-20\nruns_dir: runs/t\n"
        f"audit_path: audit/t/learning_audit.jsonl\nservice_url: http://127.0.0.1:{port}\n"
    )
    return root


def served_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, iterations: int) -> Path:
    """:func:`make_environment` in ``tmp_path``, made the cwd, with every flag on in flags.env."""
    root = make_environment(tmp_path, iterations=iterations)
    monkeypatch.chdir(root)
    write_flags(root / "flags.env", ALL_ON)
    return root


def write_flags(path: Path, values: Mapping[str, str]) -> None:
    """Replace the flags file (a new inode, so the change is always seen)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    tmp.replace(path)


def wait_for(predicate: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextmanager
def serving(root: Path, flags_file: Path, *, iterations: int) -> Iterator[str]:
    """Run ``stratloop serve`` in a subprocess in ``root``; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHASE", "ENABLE_"))}
    code = "import sys; from stratloop.cli import main; main(sys.argv[1:])"
    args = [
        sys.executable,
        "-c",
        code,
        "serve",
        "--environment",
        "t",
        "--port",
        str(port),
        "--flags-file",
        str(flags_file),
        "--iterations",
        str(iterations),
    ]
    process = subprocess.Popen(
        args, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"server exited with {process.returncode}: {output}")
        try:
            return httpx.get(url + "/health", timeout=2).status_code in {200, 503}
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, 60, "the server to answer")
        yield url
    finally:
        stop(process)
        if process.stdout:
            process.stdout.close()


def history_record(i: int, **over: Any) -> IterationRecord:
    """A minimal committed record, an adherent Phase 3 factor-graph iteration; ``over`` wins."""
    record: dict[str, Any] = {
        "iteration_num": i,
        "batch": 0,
        "timestamp": f"t{i}",
        "flags": {},
        "implementation": "strategy_pattern",
        "decision": {
            "method": "factor_graph",
            "rule": "explicit_factor_graph",
            "use_factor_graph": True,
            "innovation_rate": 0.0,
            "draw": 0.5,
            "reason": "configured",
        },
        "strategy_selected": "FactorGraphStrategy",
        "method_used": "factor_graph",
        "fallback": None,
        "generation_error": None,
        "candidate": {
            "id": "x",
            "method": "factor_graph",
            "spec": {"expression": "rank(returns)", "portfolio": {"kind": "top_n", "n": 5}},
            "lineage": {"parents": [], "operator": "seed", "params": {}},
        },
        "status": "evaluated",
        "error": None,
        "train": None,
        "test": None,
        "champion": False,
        "audited": True,
        "budget_mode": None,
        "llm_usage": None,
        "timings": {"generate_s": 0.0, "validate_s": 0.0, "evaluate_s": None},
        "schema_version": 2,
    }
    record.update(over)
    if record["status"] != "evaluated" and record["error"] is None:
        record["error"] = {"stage": "validation", "type": "ExpressionError", "message": "m"}
    return IterationRecord.from_dict(record)


def committed_records(count: int) -> Iterator[IterationRecord]:
    """``count`` records as the loop hands them to its progress hook.

    Built by the loop's own code, cycling through an evaluated iteration, a
    failed validation, a failed generation (Phase 1-2, explicit fallback, not
    audited) and a failed evaluation, each with its own iteration, batch and
    timestamp.
    """
    for i in range(count):
        yield record_at(i, kind=i % 4)
