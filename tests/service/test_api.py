"""/api over a real server on 127.0.0.1: a finished run and the service's running one."""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_helpers import make_environment, serving, wait_for, write_flags

import stratloop
from run_helpers import ALL_ON
from stratloop.loop.evaluation import load_run_panel
from stratloop.loop.runner import open_run
from stratloop.spec import Strategy

MARKER = "OUTSIDE-THE-RUNS-4711"
"""Content of files beside the run directories that no answer may contain."""


def _run_finished(root: Path, iterations: int) -> str:
    """Run ``stratloop run -e t`` to the end in ``root``; its run id."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHASE", "ENABLE_"))}
    env.update(ALL_ON)
    code = "import sys; from stratloop.cli import main; main(sys.argv[1:])"
    subprocess.run(
        [sys.executable, "-c", code, "run", "-e", "t", "-n", str(iterations), "--no-progress"],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    )
    (run_id,) = (p.name for p in (root / "runs" / "t").iterdir())
    return run_id


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """(base URL, runs dir, finished run id) with the service running a long run beside it."""
    root = make_environment(tmp_path_factory.mktemp("api"), iterations=6)
    (root / "secret.txt").write_text(MARKER)
    (root / "runs" / "secret.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "runs" / "secret.txt").write_text(MARKER)
    finished = _run_finished(root, 6)
    flags = root / "flags.env"
    write_flags(flags, ALL_ON)
    with serving(root, flags, iterations=100_000) as url:
        yield url, root / "runs" / "t", finished


def _live_id(url: str, finished: str) -> str:
    runs = httpx.get(url + "/api/runs", timeout=30).json()
    (live,) = [r["run_id"] for r in runs if r["run_id"] != finished]
    return live


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
class TestFinishedRun:
    def test_list_has_both_runs_newest_first(self, served: tuple[str, Path, str]) -> None:
        """/api/runs lists the finished run and the service's running one, newest first."""
        url, _, finished = served
        runs = httpx.get(url + "/api/runs", timeout=30).json()
        assert [r["run_id"] for r in runs][-1] == finished
        by_id = {r["run_id"]: r for r in runs}
        assert by_id[finished]["status"] == "completed"
        assert by_id[finished]["iterations"] == by_id[finished]["total"] == 6
        assert by_id[_live_id(url, finished)]["status"] == "running"

    def test_run_and_champion_match_the_directory(self, served: tuple[str, Path, str]) -> None:
        """/api/runs/{id} and /champion say what run.json and champion.json say."""
        url, runs_dir, finished = served
        run = httpx.get(f"{url}/api/runs/{finished}", timeout=30).json()
        champion = json.loads((runs_dir / finished / "champion.json").read_text())
        assert run["champion"] == champion
        assert run["best"] == champion["score"]
        assert run["eta_s"] is None
        assert run["rate_per_s"] > 0
        got = httpx.get(f"{url}/api/runs/{finished}/champion", timeout=30).json()
        assert got == champion

    def test_history_pages_cover_the_file(self, served: tuple[str, Path, str]) -> None:
        """Pages of 4 from since=0 return every history line once, in order, then stop."""
        url, runs_dir, finished = served
        first = httpx.get(f"{url}/api/runs/{finished}/history?since=0&limit=4", timeout=30).json()
        assert first["next_since"] == 4
        second = httpx.get(
            f"{url}/api/runs/{finished}/history?since={first['next_since']}&limit=4", timeout=30
        ).json()
        assert second["next_since"] is None
        assert first["records"] + second["records"] == _lines(runs_dir / finished / "history.jsonl")

    def test_returns_equal_an_independent_backtest(self, served: tuple[str, Path, str]) -> None:
        """The champion's returns and the benchmark's are the public backtest API's, day for day."""
        url, runs_dir, finished = served
        body = httpx.get(f"{url}/api/runs/{finished}/returns", timeout=60).json()
        _, config = open_run(runs_dir, finished)
        panel = load_run_panel(config)
        champion = json.loads((runs_dir / finished / "champion.json").read_text())
        strategy = Strategy.model_validate(champion["spec"])
        result = stratloop.backtest_strategy(strategy, panel, config.backtest)
        parts = (result.train, result.validation)
        expected = np.concatenate([part.returns for part in parts])
        np.testing.assert_allclose(body["strategy"], expected, rtol=0, atol=1e-15)
        bench = np.concatenate([part.benchmark_returns for part in parts])
        np.testing.assert_allclose(body["benchmark"], bench, rtol=0, atol=1e-15)
        assert body["dates"][0] == str(result.train.dates[0])
        assert body["segment"].count("validation") == len(result.validation.returns)
        assert body["holdout"] == "sealed"
        assert body["candidate_id"] == champion["candidate_id"]

    def test_returns_as_csv(self, served: tuple[str, Path, str]) -> None:
        """format=csv is the same days and values as the JSON, one row per day."""
        url, _, finished = served
        body = httpx.get(f"{url}/api/runs/{finished}/returns", timeout=60).json()
        response = httpx.get(f"{url}/api/runs/{finished}/returns?format=csv", timeout=60)
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [r["date"] for r in rows] == body["dates"]
        assert [float(r["strategy"]) for r in rows] == body["strategy"]
        assert [float(r["benchmark"]) for r in rows] == body["benchmark"]

    def test_openapi_documents_every_route(self, served: tuple[str, Path, str]) -> None:
        """/openapi.json describes each /api route."""
        url, _, _ = served
        paths = httpx.get(url + "/openapi.json", timeout=30).json()["paths"]
        for route in (
            "/api/runs",
            "/api/runs/{run_id}",
            "/api/runs/{run_id}/champion",
            "/api/runs/{run_id}/history",
            "/api/runs/{run_id}/returns",
        ):
            assert "get" in paths[route], route
        params = {p["name"] for p in paths["/api/runs/{run_id}/history"]["get"]["parameters"]}
        assert {"since", "limit"} <= params

    def test_prometheus_gauges_per_run(self, served: tuple[str, Path, str]) -> None:
        """/metrics has the best score and the champion's key metrics of each run."""
        url, runs_dir, finished = served
        text = httpx.get(url + "/metrics", timeout=30).text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        champion = json.loads((runs_dir / finished / "champion.json").read_text())
        best = {s.labels["run_id"]: s.value for s in families["stratloop_run_best_score"].samples}
        assert best[finished] == pytest.approx(champion["score"])
        metrics = {
            (s.labels["run_id"], s.labels["segment"], s.labels["metric"]): s.value
            for s in families["stratloop_run_champion_metric"].samples
        }
        assert metrics[(finished, "validation", "sharpe")] == pytest.approx(
        champion["validation"]["sharpe"]
    )
        assert "stratloop_health_status" in families


@pytest.mark.slow
class TestRunningRun:
    def test_progress_grows_and_history_matches(self, served: tuple[str, Path, str]) -> None:
        """The live run's count grows; its history page is the file's committed prefix."""
        url, runs_dir, finished = served
        live = _live_id(url, finished)
        before = httpx.get(f"{url}/api/runs/{live}", timeout=30).json()
        assert before["status"] == "running"
        assert before["total"] == 100_000
        wait_for(
            lambda: httpx.get(f"{url}/api/runs/{live}", timeout=30).json()["iterations"]
            > before["iterations"] + 2,
            what="the live run to commit iterations",
        )
        page = httpx.get(f"{url}/api/runs/{live}/history?limit=5", timeout=30).json()
        assert len(page["records"]) == 5
        assert page["records"] == _lines(runs_dir / live / "history.jsonl")[:5]
        run = httpx.get(f"{url}/api/runs/{live}", timeout=30).json()
        assert run["eta_s"] is not None
        assert run["eta_s"] > 0

    def test_champion_returns_while_running(self, served: tuple[str, Path, str]) -> None:
        """The running run's champion has returns as soon as it has a champion."""
        url, _, finished = served
        live = _live_id(url, finished)
        wait_for(
            lambda: httpx.get(f"{url}/api/runs/{live}/champion", timeout=30).status_code == 200,
            what="a champion",
        )
        body = httpx.get(f"{url}/api/runs/{live}/returns", timeout=60).json()
        assert len(body["strategy"]) == len(body["dates"]) == len(body["benchmark"]) > 100


HOSTILE = [
    "..",
    ".",
    "...",
    "../secret.txt",
    "..%2Fsecret.txt",
    "..%2f..%2fsecret.txt",
    "%2e%2e",
    "%2e%2e%2fsecret.txt",
    "%252e%252e%252fsecret.txt",
    "..%5csecret.txt",
    "..\\secret.txt",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "....//....//secret.txt",
    "secret.txt",
    "%00",
    "run%00id",
    "a" * 101,
    "a" * 20_000,
    "%C0%AE%C0%AE%2Fsecret.txt",
    "%E2%80%AE",
    "~root",
    "run%20id",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "-rf",
    "_hidden",
    "20261206T000000Z-000000",
    "t/../../secret.txt",
    "%2e",
    "..;/secret.txt",
]


@pytest.mark.slow
class TestHostileIds:
    @pytest.mark.parametrize("suffix", ["", "/champion", "/history", "/returns?format=csv"])
    def test_every_hostile_id_is_a_json_4xx_without_content(
        self, served: tuple[str, Path, str], suffix: str
    ) -> None:
        """30 traversal, encoded, odd and huge ids: 4xx, JSON, no file content in the answer."""
        url, runs_dir, finished = served
        config = (runs_dir / finished / "config.json").read_text()
        passwd = Path("/etc/passwd").read_text() if Path("/etc/passwd").is_file() else "root:x:"
        parts = urlsplit(url)
        assert len(HOSTILE) == 30
        for raw in HOSTILE:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            try:
                connection.request("GET", f"/api/runs/{raw}{suffix}")
                response = connection.getresponse()
                body = response.read().decode("utf-8", "replace")
            finally:
                connection.close()
            assert 400 <= response.status < 500, (raw, response.status, body[:200])
            assert MARKER not in body, raw
            assert passwd.splitlines()[0] not in body, raw
            assert '"config_hash"' not in body, raw
            assert config[:60] not in body, raw
            if response.status != 414:
                json.loads(body)
