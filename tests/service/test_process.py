"""Issue 13: ``stratloop serve`` runs its loop in a child process, so /health never waits for it.

Real processes throughout: the loop process is spawned with a real run on the
embedded data, and ``stratloop serve`` runs as a subprocess for the signals.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import free_port, served_environment, wait_for

from stratloop.cli.serve import ServedLoop
from stratloop.environments import load_environment
from stratloop.errors import RunError
from stratloop.flags import open_flag_source
from stratloop.loop import iter_history
from stratloop.service import LoopProcess, LoopService

pytestmark = pytest.mark.slow


def _loop(root: Path, *, resume: str | None = None, iterations: int = 400) -> LoopProcess:
    """The loop process ``serve --environment t`` would start in ``root`` (the cwd)."""
    env = load_environment("t", root=root)
    flags_file = root / "flags.env"
    flags = open_flag_source(flags_file)
    config = env.load_config(flags=flags.current(), overrides={"loop.iterations": iterations})
    if resume is None:
        service = LoopService(config, flags, audit_path=Path(config.audit.path))
    else:
        service = LoopService(config, flags, resume=resume, iterations=iterations)
    build = ServedLoop(
        config, env.config_document(), flags_file, service.run_id, resume is not None, iterations
    )
    return LoopProcess(
        build, run_id=service.run_id, runs_dir=service.runs_dir, audit_path=service.audit_path
    )


def _run_json(root: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / "runs" / "t" / run_id / "run.json").read_text())
    return data


def _gone(pid: int) -> bool:
    """Whether no process ``pid`` runs any more (a zombie of this test's counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return served_environment(tmp_path, monkeypatch, iterations=400)


class TestLoopProcess:
    def test_serves_the_loops_publications_then_stops_it_resumable(self, root: Path) -> None:
        """The child writes the run (lock, run.json), the parent serves its answers; resumable."""
        loop = _loop(root)
        loop.start()
        try:
            assert loop.pid is not None
            assert loop.pid != os.getpid()
            assert _run_json(root, loop.run_id)["writer"]["pid"] == loop.pid
            wait_for(lambda: loop.latest().payload["iteration"] >= 1, 60, "an iteration")
            published = loop.latest()
            assert published.status_code == 200
            assert published.payload["run_id"] == loop.run_id
            assert published.health_response.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"stratloop_iterations" in published.metrics_response
        finally:
            loop.stop(60)
        final = loop.latest().payload
        assert final["loop_status"] == "interrupted"
        assert _run_json(root, loop.run_id)["status"] == "interrupted"
        history = root / "runs" / "t" / loop.run_id / "history.jsonl"
        done = len(list(iter_history(history)))
        assert final["iteration"] == done

        again = _loop(root, resume=loop.run_id)
        again.start()
        try:
            assert again.latest().payload["resumed_from"] == done
            assert again.pid is not None
            os.kill(again.pid, signal.SIGKILL)
            wait_for(lambda: again.latest().status_code == 503, 30, "the death to be reported")
        finally:
            again.stop(60)
        error = again.latest().payload["error"]
        assert "ended unexpectedly" in error, "a loop process that dies is unhealthy"
        assert f"stratloop serve --resume {loop.run_id}" in error

    def test_a_run_the_loop_cannot_start_is_an_error_in_the_server(self, root: Path) -> None:
        """The child's reason reaches the caller of start() as a RunError, and the child ends."""
        loop = _loop(root)
        (root / "runs" / "t" / loop.run_id).mkdir(parents=True)
        with pytest.raises(RunError, match="the loop could not start") as raised:
            loop.start()
        assert f"run directory {root / 'runs' / 't' / loop.run_id} already exists" in str(
            raised.value
        )
        assert loop.start_error is raised.value
        assert loop.pid is not None
        assert _gone(loop.pid)


_TERMINAL_CLI = (
    sys.executable,
    "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from stratloop.cli import main; main(sys.argv[1:])",
)
"""`stratloop` with Ctrl-C delivered, as from a terminal: an ignored SIGINT is inherited
across exec, and a test worker's may be ignored (then serve, like any command, keeps it so)."""


def _serve(root: Path, port: int) -> subprocess.Popen[bytes]:
    """``stratloop serve`` in its own process group, as a terminal would start it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHASE", "ENABLE_"))}
    args = [*_TERMINAL_CLI, "serve", "-e", "t", "--port", str(port), "--flags-file", "flags.env"]
    return subprocess.Popen(
        args,
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


@contextmanager
def _served(root: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, int]]:
    """``stratloop serve`` once it has committed an iteration: (process, run id, loop pid)."""
    port = free_port()
    server = _serve(root, port)

    def committed() -> str | None:
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
        try:
            body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        except httpx.HTTPError:
            return None
        return str(body["run_id"]) if body["iteration"] >= 1 else None

    try:
        run_id: str = wait_for(committed, 90, "the service to commit an iteration")
        loop_pid = int(_run_json(root, run_id)["writer"]["pid"])
        assert loop_pid != server.pid, "the loop process writes the run"
        yield server, run_id, loop_pid
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stderr:
            server.stderr.close()


class TestServeSignals:
    def test_ctrl_c_stops_the_server_and_the_loop_after_its_batch(self, root: Path) -> None:
        """SIGINT to serve's process group (Ctrl-C): both processes end, the run is resumable."""
        with _served(root) as (server, run_id, loop_pid):
            os.killpg(server.pid, signal.SIGINT)
            status = server.wait(60)
            said = server.stderr.read().decode() if server.stderr else ""
            assert status == 130, f"the exit status of any Ctrl-C'd command; serve said:\n{said}"
        wait_for(lambda: _gone(loop_pid), 30, "the loop process to end")
        assert _run_json(root, run_id)["status"] == "interrupted"

    def test_a_killed_server_process_stops_its_loop(self, root: Path) -> None:
        """SIGKILL of the server: its loop process sees the pipe close and stops resumable."""
        with _served(root) as (server, run_id, loop_pid):
            server.kill()
            server.wait(30)
        wait_for(lambda: _gone(loop_pid), 60, "the loop process to end after its server")
        assert _run_json(root, run_id)["status"] == "interrupted"
