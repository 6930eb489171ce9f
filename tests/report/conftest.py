"""A real finished run, shared by the report tests: (runs directory, run id)."""

from __future__ import annotations

from pathlib import Path

import pytest

import stratloop
from stratloop.config import load_config

RUN_CONFIG = """\
version: 1
generation:
  use_factor_graph: true
  innovation_rate: 0
llm:
  enabled: false
data:
  source: sp500-20
  start_date: 2015-01-01
  end_date: 2019-12-31
loop:
  iterations: 12
  batch_size: 4
  min_trades: 0
  runs_dir: {runs}
audit:
  path: {audit}
"""


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
