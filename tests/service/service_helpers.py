"""A small real environment (two years of the embedded data), a real server process, records."""

from __future__ import annotations

import functools
import json
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

from stratloop.flags import Flags
from stratloop.generation.decision import decide
from stratloop.generation.outcome import Fallback, GenerationOutcome
from stratloop.loop.history import dumps_record
from stratloop.loop.record import Generated, build_record
from stratloop.loop.workers import EvalResult
from stratloop.spec import Candidate, Lineage, Strategy, TopN

ALL_ON = {
    "ENABLE_GENERATION_REFACTORING": "true",
    "PHASE1_CONFIG_ENFORCEMENT": "true",
    "PHASE2_PYDANTIC_VALIDATION": "true",
    "PHASE3_STRATEGY_PATTERN": "true",
    "PHASE4_AUDIT_TRAIL": "true",
}

_CONFIG = """\
version: 1
generation:
  use_factor_graph: true
  innovation_rate: 0
llm:
  enabled: false
data:
  source: sp500-20
  start_date: 2018-01-01
  end_date: 2019-12-31
loop:
  iterations: {iterations}
  batch_size: 2
  min_trades: 0
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_environment(root: Path, *, iterations: int = 8, port: int = 1) -> Path:
    """Write environments/t.yaml and configs/t.yaml under ``root``."""
    (root / "environments").mkdir(parents=True, exist_ok=True)
    (root / "configs").mkdir(exist_ok=True)
    (root / "configs" / "t.yaml").write_text(_CONFIG.format(iterations=iterations))
    (root / "environments" / "t.yaml").write_text(
        "config: configs/t.yaml\ndata_source: sp500-20\nruns_dir: runs/t\n"
        f"audit_path: audit/t/learning_audit.jsonl\nservice_url: http://127.0.0.1:{port}\n"
    )
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
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def history_record(i: int, **over: Any) -> dict[str, Any]:
    """A minimal committed record, an adherent Phase 3 factor-graph iteration; ``over`` wins."""
    record: dict[str, Any] = {
        "iteration": i,
        "implementation": "strategy_pattern",
        "decision": {
            "method": "factor_graph",
            "rule": "use_factor_graph_true",
            "use_factor_graph": True,
            "innovation_rate": 0.0,
            "draw": 0.5,
            "reason": "configured",
        },
        "strategy_selected": "FactorGraphStrategy",
        "method_used": "factor_graph",
        "fallback": None,
        "generation_error": None,
        "candidate": None,
        "status": "evaluated",
        "error": None,
        "audited": True,
    }
    record.update(over)
    return record


_METRICS = {"sharpe": 0.81, "annual_return": 0.12, "max_drawdown": 0.3, "n_trades": 320}


@functools.cache
def _committed_lines() -> tuple[str, ...]:
    """History lines built by the loop's own ``build_record``, one per kind of iteration."""
    flags = Flags(source="test").as_dict()
    candidate = Candidate(
        Strategy(expression="rank(ts_mean(returns, 20))", portfolio=TopN(n=5)),
        "factor_graph",
        Lineage(operator="sample", params={"factor": "momentum", "n": 20}),
    )
    decision = decide(True, 0.0, 0.42)
    made = GenerationOutcome(
        "strategy_pattern", decision, "FactorGraphStrategy", "factor_graph", candidate
    )
    failed = GenerationOutcome(
        "procedural",
        decide(None, 50.0, 0.1),
        "procedural",
        None,
        None,
        Fallback("explicit", "llm", "factor_graph", "configured", "LLMUnavailableError"),
        "FactorGraphError",
        "no valid child after 25 attempts",
    )
    ok = EvalResult(0, _METRICS, _METRICS, 0.01)
    cases = (
        (Generated(0, 0, "", flags, True, made), ok),
        (Generated(0, 0, "", flags, True, made, ("ExpressionError", "bad window")), None),
        (Generated(0, 0, "", flags, False, failed), None),
        (
            Generated(0, 0, "", flags, True, made),
            EvalResult(0, None, None, 0.2, "BacktestError", "x"),
        ),
    )
    return tuple(dumps_record(build_record(generated, result)) for generated, result in cases)


def committed_records(count: int) -> Iterator[dict[str, Any]]:
    """``count`` records as the loop hands them to its progress hook, each a new mapping.

    Built by the loop's own ``build_record``, serialised and parsed back as
    the runner does, cycling through an evaluated iteration, a failed
    validation, a failed generation (Phase 1-2, explicit fallback, not
    audited) and a failed evaluation. Each record is a new dict with its own
    iteration, batch and timestamp; its nested values are shared between
    records of a kind, which keeps a run of 200,000 records quick to make.
    """
    templates = [json.loads(line) for line in _committed_lines()]
    for i in range(count):
        record = dict(templates[i % len(templates)])
        record["iteration"], record["batch"] = i, i // 8
        record["timestamp"] = f"2026-01-01T00:00:00.{i:06d}+00:00"
        yield record
