"""What the tests that run the loop share: flag sets, a working directory, `stratloop run`.

One place for the five flag variables the tests set, the quick working
directory of the command-line tests, the configuration text of the soak tests
(factor graph only, on the embedded data) and the `stratloop run` command line
they start as a separate process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stratloop.flags.model import FLAG_VARIABLES

ALL_ON = dict.fromkeys(FLAG_VARIABLES, "true")
"""Every flag on: the finished system."""

AUDIT_OFF = {**ALL_ON, "PHASE4_AUDIT_TRAIL": "false"}
"""Phases 1-3 on, no audit trail."""

CLI = (sys.executable, "-c", "from stratloop.cli import main; import sys; main(sys.argv[1:])")
"""`stratloop` as a separate process, whichever interpreter runs the tests."""


def enter_workdir(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    start_date: str | None = "2018-01-02",
    flags: dict[str, str] = ALL_ON,
) -> Path:
    """Work in ``tmp_path`` with ``flags`` set and (by default) a short data window."""
    monkeypatch.chdir(tmp_path)
    if start_date is not None:
        monkeypatch.setenv("STRATLOOP_DATA__START_DATE", start_date)
    for key, value in flags.items():
        monkeypatch.setenv(key, value)
    return tmp_path


def run_config(
    *,
    start: str,
    end: str,
    iterations: int,
    seed: int | None = None,
    batch_size: int = 4,
    llm_off: bool = False,
    extra: str = "",
) -> str:
    """A factor-graph-only configuration on the embedded data.

    ``extra`` follows the ``loop`` section's lines: more of them (indented),
    or further sections; ``llm_off`` writes ``llm.enabled: false``.
    """
    llm = "llm:\n  enabled: false\n" if llm_off else ""
    seeded = "" if seed is None else f"  seed: {seed}\n"
    return f"""\
version: 1
generation:
  use_factor_graph: true
  innovation_rate: 0
{llm}data:
  source: sp500-20
  start_date: {start}
  end_date: {end}
loop:
  iterations: {iterations}
  batch_size: {batch_size}
{seeded}{extra}"""


def run_command(tmp_path: Path, *extra: str, audit: Path | None = None) -> list[str]:
    """`stratloop run` as a process (:data:`CLI`) with :func:`run_args`."""
    return [*CLI, *run_args(tmp_path, *extra, audit=audit)]


def run_args(tmp_path: Path, *extra: str, audit: Path | None = None) -> list[str]:
    """`run` on ``tmp_path / "config.yaml"`` into ``tmp_path / "runs"``, without progress."""
    audit_args = [] if audit is None else ["--audit-path", str(audit)]
    return [
        "run",
        "--config",
        str(tmp_path / "config.yaml"),
        "--no-progress",
        "--runs-dir",
        str(tmp_path / "runs"),
        *audit_args,
        *extra,
    ]
