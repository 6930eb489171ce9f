"""A real Prometheus scrapes a running ``stratloop serve`` and fires the matching alert.

It also evaluates every query of deploy/grafana/dashboard.json against the
scraped data, so each one parses as PromQL.

The service runs with the master switch off (Phase 0) against an LLM endpoint
that fails every request, with every iteration drawn for the LLM: the legacy
path falls back to the factor graph silently, ``stratloop_silent_fallback_count``
rises, and Prometheus, evaluating deploy/prometheus/alerts.yml as shipped
(the critical alerts have no ``for:``), fires ``StratloopSilentFallback``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from deploy_helpers import RULES, names_in_exposition, panel_queries, tool

from run_helpers import ALL_ON
from service.service_helpers import (
    free_port,
    make_environment,
    serving,
    stop,
    wait_for,
    write_flags,
)
from stratloop.acceptance.llm_server import ScriptedOpenAIServer

pytestmark = pytest.mark.slow

_BOUND_S = 60.0
"""The alert fires within this many seconds of Prometheus starting."""
_CONFIG = """\
version: 1
generation:
  use_factor_graph: null
  innovation_rate: 100
llm:
  enabled: true
  base_url: {base_url}
  model: scripted-model
  api_key_env: STRATLOOP_TEST_LLM_KEY
  timeout_s: 5
  max_retries: 0
  repair_rounds: 0
data:
  source: sp500-20
  start_date: 2018-01-01
  end_date: 2019-12-31
loop:
  iterations: {iterations}
  batch_size: 2
  min_trades: 0
"""


@contextmanager
def _prometheus(tmp_path: Path, target: str) -> Iterator[str]:
    """Prometheus on loopback scraping ``target`` every second with the shipped rules."""
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "stratloop", "static_configs": [{"targets": [target]}]}],
    }
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited: {(tmp_path / 'prometheus.log').read_text()}")
        try:
            return httpx.get(url + "/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, 30, "prometheus to be ready")
        yield url
    finally:
        stop(process)
        log.close()


def _alerts(url: str) -> list[dict[str, Any]]:
    body = httpx.get(url + "/api/v1/alerts", timeout=5).json()
    assert body["status"] == "success"
    alerts: list[dict[str, Any]] = body["data"]["alerts"]
    return alerts


def _query(url: str, query: str) -> dict[str, Any]:
    """Prometheus's answer to an instant query (status ``success`` or ``error``)."""
    body: dict[str, Any] = httpx.get(
        url + "/api/v1/query", params={"query": query}, timeout=5
    ).json()
    return body


def test_silent_fallback_alert_fires(tmp_path: Path) -> None:
    """Phase 0 with a failing LLM: Prometheus fires StratloopSilentFallback within the bound."""
    root = make_environment(tmp_path / "env", iterations=400)
    flags = root / "flags.env"
    write_flags(flags, {**ALL_ON, "ENABLE_GENERATION_REFACTORING": "false"})
    with ScriptedOpenAIServer() as llm:
        (root / "configs" / "t.yaml").write_text(
            _CONFIG.format(base_url=llm.base_url, iterations=400)
        )
        with serving(root, flags, iterations=400) as service:
            exposition = httpx.get(service + "/metrics", timeout=10).text
            assert "stratloop_silent_fallback_count" in names_in_exposition(exposition)
            with _prometheus(tmp_path, service.removeprefix("http://")) as prometheus:
                started = time.monotonic()

                def fired() -> dict[str, Any] | None:
                    return next(
                        (
                            a
                            for a in _alerts(prometheus)
                            if a["labels"]["alertname"] == "StratloopSilentFallback"
                            and a["state"] == "firing"
                        ),
                        None,
                    )

                alert = wait_for(fired, _BOUND_S, "StratloopSilentFallback to fire")
                elapsed = time.monotonic() - started
                names = {a["labels"]["alertname"] for a in _alerts(prometheus)}
                queried = {query: _query(prometheus, query) for query in panel_queries()}
            assert llm.requests, "the LLM was asked and failed"
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["job"] == "stratloop"
    assert float(alert["value"]) > 0
    assert "Silent fallbacks detected" in alert["annotations"]["summary"]
    assert elapsed < _BOUND_S
    assert "StratloopAuditViolation" not in names
    failed = {query: body for query, body in queried.items() if body["status"] != "success"}
    assert failed == {}, "every dashboard query parses and evaluates"
    assert queried['stratloop_silent_fallback_count{instance=~".*"}']["data"]["result"]
