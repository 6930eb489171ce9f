"""Issue 13: /health and /metrics answer from the published snapshot, fast, whoever asks.

A real uvicorn server (the service's own, with its protocol) on 127.0.0.1 in
a thread, over a real :class:`LoopService` whose committed records are fed
through its progress hook.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_helpers import free_port, history_record, wait_for

from stratloop.acceptance.health import FixedFlags
from stratloop.config.models import StratloopConfig
from stratloop.flags import Flags
from stratloop.service import LoopService, Monitor, create_app, server
from stratloop.service.health import HealthSnapshot

LLM_DOWN = {
    "status": "generation_failed",
    "candidate": None,
    "method_used": None,
    "error": {"stage": "generation", "type": "LLMUnavailableError", "message": "refused"},
}


class _CountingMonitor(Monitor):
    """A monitor that counts its measurements (and can be told to fail them)."""

    def __init__(self, service: LoopService) -> None:
        super().__init__(service)
        self.measured = 0
        self.fail: Exception | None = None

    def snapshot(self) -> HealthSnapshot:
        """Count, then measure (or raise the injected failure)."""
        self.measured += 1
        if self.fail is not None:
            raise self.fail
        return super().snapshot()


def _service(tmp_path: Path, **loop: Any) -> LoopService:
    config = StratloopConfig.model_validate(
        {
            "version": 1,
            "generation": {"use_factor_graph": True, "innovation_rate": 0},
            "loop": {"runs_dir": str(tmp_path / "runs"), **loop},
            "audit": {"path": str(tmp_path / "audit" / "trail.jsonl")},
        }
    )
    return LoopService(config, FixedFlags(Flags(source="test")))


@contextmanager
def _serving(monitor: Monitor, **limits: Any) -> Iterator[str]:
    """The service's server for ``monitor`` (its loop not started) on a free loopback port."""
    port = free_port()
    instance = server(create_app(monitor, start_loop=False), "127.0.0.1", port, **limits)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: instance.started, 30, "the server to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(30)


class TestPublishedAnswers:
    def test_requests_never_measure(self, tmp_path: Path) -> None:
        """400 requests from 20 concurrent clients cost no measurement of their own."""
        monitor = _CountingMonitor(_service(tmp_path))
        with _serving(monitor) as url:
            before = monitor.measured
            started = time.monotonic()
            codes: list[int] = []

            def client() -> None:
                with httpx.Client(base_url=url, timeout=10) as http:
                    paths = ("/health", "/metrics") * 10
                    codes.extend(http.get(path).status_code for path in paths)

            threads = [threading.Thread(target=client) for _ in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            measured = monitor.measured - before
        assert codes == [200] * 400
        assert measured <= elapsed / 1.0 + 2, f"{measured} measurements in {elapsed:.1f} s"

    def test_the_answer_follows_the_loop_and_says_when_it_was_taken(self, tmp_path: Path) -> None:
        """A commit is published within the publisher's interval; snapshot_at dates it."""
        service = _service(tmp_path)
        with _serving(Monitor(service)) as url:
            for i in range(5):
                service.committed(history_record(i), None)
            body = wait_for(
                lambda: (b := httpx.get(url + "/health", timeout=10).json())["iteration"] == 5
                and b,
                timeout=5,
                what="the commits to be published",
            )
        assert body["snapshot_at"].endswith("+00:00")
        assert body["phase4_enabled"] is True

    def test_metrics_parse_and_match_the_health_answer(self, tmp_path: Path) -> None:
        """/metrics from the fast path is valid Prometheus text with the published counts."""
        service = _service(tmp_path)
        for i in range(3):
            service.committed(history_record(i), None)
        with _serving(Monitor(service)) as url:
            response = httpx.get(url + "/metrics", timeout=10)
            health = httpx.get(url + "/health", timeout=10)
        assert response.headers["content-type"].startswith("text/plain")
        assert health.headers["content-type"] == "application/json"
        families = {f.name: f for f in text_string_to_metric_families(response.text)}
        assert sum(s.value for s in families["stratloop_iterations"].samples) == 3
        assert health.json()["iteration"] == 3

    def test_a_failed_publication_is_unhealthy_not_stale(self, tmp_path: Path) -> None:
        """When the service cannot measure itself, /health says so with 503."""
        monitor = _CountingMonitor(_service(tmp_path))
        with _serving(monitor) as url:
            monitor.fail = RuntimeError("disk gone")
            monitor.service.changed.set()
            response = wait_for(
                lambda: (r := httpx.get(url + "/health", timeout=10)).status_code == 503 and r,
                timeout=5,
                what="the failed publication",
            )
        body = response.json()
        assert body["status"] == "unhealthy"
        assert "RuntimeError: disk gone" in body["error"]


class TestProviderPause:
    def test_a_provider_failure_pause_is_degraded_with_its_reason(self, tmp_path: Path) -> None:
        """A pause for consecutive LLM failures shows in the pause check, not as a flags error."""
        service = _service(tmp_path)
        reason = "10 consecutive LLM provider failures (loop.max_consecutive_failures is 10)"
        service.paused(reason)
        snapshot = Monitor(service).snapshot()
        checks = {c.name: c for c in snapshot.checks}
        assert snapshot.status == "degraded"
        assert snapshot.state.status == "paused"
        assert checks["pause"].detail == reason
        assert checks["flags"].passed
        service.paused(None)
        snapshot = Monitor(service).snapshot()
        assert snapshot.status == "healthy"
        assert snapshot.state.status == "running"


class TestFailureRate:
    def test_failing_iterations_degrade_health_with_counts_by_cause(self, tmp_path: Path) -> None:
        """Issue 13: 3 of 10 iterations failing (LLM unreachable) is degraded, saying why."""
        service = _service(tmp_path, failure_rate_window=10, max_failure_rate=0.1)
        for i in range(10):
            service.committed(history_record(i, **(LLM_DOWN if i % 3 == 0 else {})), None)
        with _serving(Monitor(service)) as url:
            body = httpx.get(url + "/health", timeout=10).json()
            page = httpx.get(url + "/", timeout=10).text
        assert body["status"] == "degraded"
        check = body["checks"]["failure_rate"]
        assert check["status"] == "fail"
        assert check["detail"] == (
            "4 of the last 10 iterations produced no evaluation (40.0%; loop.max_failure_rate "
            "is 10.0%): generation/LLMUnavailableError 4"
        )
        assert body["failures"] == {
            "window": 10,
            "failed": 4,
            "rate": 0.4,
            "max_rate": 0.1,
            "by_cause": {"generation/LLMUnavailableError": 4},
            "run_failed": 4,
            "run_by_cause": {"generation/LLMUnavailableError": 4},
        }
        assert "Iterations failing" in page
        assert "generation/LLMUnavailableError 4" in page

    def test_the_window_moves_on_after_recovery(self, tmp_path: Path) -> None:
        """Once the window holds only evaluated iterations the check passes; the run keeps count."""
        service = _service(tmp_path, failure_rate_window=10, max_failure_rate=0.1)
        for i in range(20):
            service.committed(history_record(i, **(LLM_DOWN if i < 5 else {})), None)
        snapshot = Monitor(service).snapshot()
        check = next(c for c in snapshot.checks if c.name == "failure_rate")
        assert check.passed
        assert check.detail.startswith("0 of the last 10 iterations produced no evaluation")
        assert snapshot.state.history.failed == 5

    def test_at_the_limit_is_not_degraded(self, tmp_path: Path) -> None:
        """Exactly max_failure_rate passes; the check fires only above it."""
        service = _service(tmp_path, failure_rate_window=10, max_failure_rate=0.1)
        for i in range(10):
            service.committed(history_record(i, **(LLM_DOWN if i == 0 else {})), None)
        check = next(c for c in Monitor(service).snapshot().checks if c.name == "failure_rate")
        assert check.passed


def _held(sock: socket.socket) -> bool:
    """Whether the server still holds ``sock`` open (a read would block, not return EOF)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


class TestConnectionLimits:
    @pytest.mark.slow
    def test_slow_request_heads_are_dropped_and_others_served(self, tmp_path: Path) -> None:
        """Slowloris: heads trickled byte by byte are cut at the deadline; /health answers."""
        with _serving(Monitor(_service(tmp_path)), header_timeout_s=1.0, keep_alive_s=1) as url:
            port = int(url.rsplit(":", 1)[1])
            trickling = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
            silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
            for sock in trickling:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            deadline = time.monotonic() + 2.5
            while time.monotonic() < deadline:
                for sock in trickling:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"X")
                assert httpx.get(url + "/health", timeout=5).status_code == 200
                time.sleep(0.25)
            held = [sock for sock in trickling + silent if _held(sock)]
            with httpx.Client(base_url=url, timeout=5) as http:
                assert http.get("/health").status_code == 200
                time.sleep(1.6)
                assert json.loads(http.get("/health").content)["status"] == "healthy"
        for sock in trickling + silent:
            sock.close()
        assert held == []
