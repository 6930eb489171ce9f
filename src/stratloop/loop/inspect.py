"""Read-only views of run directories for ``stratloop runs`` and ``stratloop show``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratloop.loop.history import count_committed
from stratloop.loop.rundir import RunDir
from stratloop.loop.runlock import is_held

__all__ = ["RunInfo", "describe_run"]


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What a run directory says about its run."""

    path: Path
    status: str
    iterations: int
    total: int
    seed: int
    metric: str
    best: float | None
    config_hash: str
    message: str
    metrics: Mapping[str, Any]
    champion: Mapping[str, Any] | None
    archive: Mapping[str, Any] | None = None
    """``archive.json`` when the run keeps a diversity archive."""


def describe_run(runs_dir: Path, run_id: str) -> RunInfo:
    """Summarise the run ``run_id`` under ``runs_dir``.

    A run whose ``run.json`` says ``running`` (or ``paused``) while no process holds its lock
    was stopped without a chance to say so (killed, or the machine went down);
    its status reads ``stopped (resumable)``.
    """
    rundir = RunDir.open(runs_dir, run_id)
    run = rundir.read_json(rundir.run)
    config = rundir.read_json(rundir.config)
    metrics = rundir.read_json(rundir.metrics) if rundir.metrics.is_file() else {}
    champion = rundir.read_json(rundir.champion) if rundir.champion.is_file() else None
    status = run.get("status", "unknown")
    if status in {"running", "paused"} and not is_held(rundir.history):
        status = "stopped (resumable)"
    return RunInfo(
        path=rundir.root,
        status=status,
        iterations=count_committed(rundir.history),
        total=int(run.get("total", 0)),
        seed=int(run.get("seed", 0)),
        metric=config["config"]["loop"]["champion_metric"],
        best=None if champion is None else champion.get("score"),
        config_hash=config.get("config_hash", ""),
        message=run.get("message", ""),
        metrics=metrics,
        champion=champion,
        archive=rundir.read_json(rundir.archive) if rundir.archive.is_file() else None,
    )
