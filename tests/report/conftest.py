"""A real finished run, shared by the report tests: (runs directory, run id)."""

from __future__ import annotations

from pathlib import Path

import pytest

import stratloop
from run_helpers import run_config
from stratloop.config import load_config

RUN_CONFIG = run_config(
    start="2015-01-01",
    end="2019-12-31",
    iterations=12,
    llm_off=True,
    extra="  min_trades: 0\n  runs_dir: {runs}\naudit:\n  path: {audit}\n",
)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Twelve factor-graph iterations on five years of the embedded data, run to the end."""
    root = tmp_path_factory.mktemp("report-run")
    path = root / "config.yaml"
    path.write_text(
        RUN_CONFIG.format(runs=root / "runs", audit=root / "audit" / "learning_audit.jsonl")
    )
    summary = stratloop.run(load_config(path))
    assert summary.champion is not None
    return root / "runs", summary.run_id
