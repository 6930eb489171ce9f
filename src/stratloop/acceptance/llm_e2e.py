"""End to end with a real model: llama.cpp's server, 20 LLM iterations, rates and a recording.

``python -m stratloop.acceptance.llm_e2e --server BIN --model MODEL.gguf`` (``make
llm-e2e``) starts ``llama-server`` on loopback, puts a recording proxy in front
of it, runs an LLM-only loop through the ``stratloop`` command, and prints the
valid-first-try rate, the repair rate, latency percentiles, tokens and the
number of repeated candidates. The proxy writes every completion it relayed as
a scripted-server script (``--record FILE``), so a test can replay the real
model's actual replies, mistakes included, through
:class:`~stratloop.acceptance.llm_server.ScriptedOpenAIServer` without the model.

Nothing here downloads anything: the server binary and the model are given by path.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

__all__ = ["E2EResult", "main", "summarise_run"]

_READY_TIMEOUT_S = 600.0
_MAX_BODY = 8 * 1024 * 1024


class _Recorder:
    """Relays chat completions to the real server and keeps each reply as a script step."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.steps: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.client = httpx.Client(timeout=None)  # noqa: S113 - a CPU model may take minutes

    def relay(self, path: str, body: bytes) -> tuple[int, bytes]:
        response = self.client.post(
            self.upstream + path, content=body, headers={"Content-Type": "application/json"}
        )
        if response.status_code == 200:
            self._keep(response.json())
        return response.status_code, response.content

    def _keep(self, payload: dict[str, Any]) -> None:
        choices = payload.get("choices") or [{}]
        usage = payload.get("usage") or {}
        step = {
            "reply": (choices[0].get("message") or {}).get("content") or "",
            "prompt_tokens": int(usage.get("prompt_tokens", 0)),
            "completion_tokens": int(usage.get("completion_tokens", 0)),
        }
        with self.lock:
            self.steps.append(step)


def _proxy(recorder: _Recorder) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet."""

        def do_GET(self) -> None:
            response = recorder.client.get(recorder.upstream + self.path)
            self._send(response.status_code, response.content)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, data = recorder.relay(self.path, self.rfile.read(min(length, _MAX_BODY)))
            self._send(status, data)

        def _send(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            message = f"llama-server exited with code {process.returncode} before it was ready"
            raise RuntimeError(message)
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    message = f"llama-server was not ready within {_READY_TIMEOUT_S:g}s"
    raise RuntimeError(message)


class E2EResult(dict[str, Any]):
    """The figures of one end-to-end run, as printed and as ``docs/llm.md`` records them."""


def summarise_run(history: Path) -> E2EResult:
    """Valid-first-try and repair rates, latency, tokens and repeats of a run's history."""
    from stratloop.llm.calls import summarise_calls  # noqa: PLC0415 - numpy
    from stratloop.loop.history import read_history  # noqa: PLC0415 - numpy

    records = read_history(history).records
    seen: set[str] = set()
    repeats = 0
    for record in records:
        if record.candidate is not None:
            text = record.candidate.strategy.expression
            repeats += text in seen
            seen.add(text)
    models = summarise_calls(
        (r.llm_calls, r.champion if r.evaluated else None) for r in records
    )
    proposals = sum(m.proposals for m in models)
    first = sum(m.valid_first_try for m in models)
    repaired = sum(m.repaired for m in models)
    latencies = sorted(lat for m in models for lat in m.latencies)

    def pct(q: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))]

    return E2EResult(
        iterations=len(records),
        proposals=proposals,
        valid_first_try_rate=first / proposals if proposals else None,
        repair_rate=repaired / proposals if proposals else None,
        failed=proposals - first - repaired,
        repeated_candidates=repeats,
        latency_p50_s=pct(50),
        latency_p90_s=pct(90),
        tokens=sum(m.tokens for m in models),
    )


def _config(base_url: str, iterations: int, structured: str) -> dict[str, Any]:
    return {
        "version": 1,
        "generation": {"use_factor_graph": False, "innovation_rate": 0},
        "llm": {
            "enabled": True,
            "base_url": base_url,
            "model": "local",
            "timeout_s": 900.0,
            "max_retries": 1,
            "max_tokens": 400,
            "temperature": 0.7,
            "repair_rounds": 1,
            "structured_output": structured,
        },
        "data": {"start_date": "2012-01-03"},
        "loop": {"iterations": iterations, "batch_size": 4, "min_trades": 0},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the model, run the loop against it, print the figures, write the recording."""
    parser = argparse.ArgumentParser(prog="python -m stratloop.acceptance.llm_e2e")
    parser.add_argument("--server", type=Path, required=True, help="the llama-server binary")
    parser.add_argument("--model", type=Path, required=True, help="a small instruct GGUF model")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--structured-output", default="grammar", choices=["auto", "json_schema", "grammar", "none"]
    )
    parser.add_argument("--record", type=Path, help="write the replies as a scripted-server script")
    args = parser.parse_args(argv)
    for path, what in ((args.server, "--server"), (args.model, "--model")):
        if not path.is_file():
            sys.stderr.write(f"error: {what} {path} is not a file\n")
            return 2
    upstream = f"http://127.0.0.1:{args.port}"
    command = [str(args.server), "-m", str(args.model), "--host", "127.0.0.1",
               "--port", str(args.port), "-c", "4096", "-t", str(args.threads)]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as served:  # noqa: S603 - paths the operator gave
        try:
            _wait_ready(upstream, served)
            recorder = _Recorder(upstream)
            proxy = _proxy(recorder)
            base_url = f"http://127.0.0.1:{proxy.server_address[1]}/v1"
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                config = work / "e2e.yaml"
                config.write_text(yaml.safe_dump(_config(base_url, args.iterations,
                                                         args.structured_output)))
                stratloop = Path(sys.executable).with_name("stratloop")
                subprocess.run(  # noqa: S603 - our own entry point
                    [str(stratloop), "run", "--no-progress", "--config", str(config),
                     "--runs-dir", str(work / "runs")],
                    check=True,
                )
                history = next((work / "runs").iterdir()) / "history.jsonl"
                result = summarise_run(history)
            proxy.shutdown()
        finally:
            served.terminate()
    result["model"] = args.model.name
    result["structured_output"] = args.structured_output
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    if args.record is not None:
        script = {"model": args.model.stem, "steps": recorder.steps}
        args.record.write_text(yaml.safe_dump(script, sort_keys=False, allow_unicode=True))
        sys.stdout.write(f"recorded {len(recorder.steps)} replies in {args.record}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
