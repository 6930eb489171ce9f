"""Read-only access to the run directories under one ``runs_dir``, for ``/api`` and reports.

A run id from outside (a URL, the command line) is checked twice before any
file is opened: it must look like a run id (letters, digits, ``.``, ``_``,
``-``; no separators, no ``..``; at most 100 characters) and it must be one of
the run directories actually listed under ``runs_dir``. Nothing else is ever
joined to the path, so no id can reach a file outside a run directory.

Results that cost a backtest (the champion's series, the tear sheet) are
cached per run and champion; the search view is cached per history size.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratloop.errors import RunIdError, RunNotFoundError
from stratloop.iteration import IterationRecord
from stratloop.loop.evaluation import load_run_panel
from stratloop.loop.history import iter_history
from stratloop.loop.inspect import RunInfo, describe_run
from stratloop.loop.rundir import RunDir, list_run_ids
from stratloop.loop.runner import open_run
from stratloop.report.returns import ChampionSeries
from stratloop.report.search import SearchView, search_view
from stratloop.report.tearsheet import TearSheet, build_tearsheet

__all__ = ["MAX_PAGE", "RunProgress", "RunReader", "check_run_id"]

MAX_PAGE = 1000
"""The most history records one page returns."""

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is shaped like a run id, else :class:`RunIdError`."""
    if not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        shown = run_id[:40] + ("..." if len(run_id) > 40 else "")
        raise RunIdError(
            f"{shown!r} is not a run id: use letters, digits, '.', '_' and '-' "
            "(at most 100, no '..'), as `stratloop runs` lists them"
        )
    return run_id


@dataclass(frozen=True, slots=True)
class RunProgress:
    """A run's summary for ``/api/runs/{id}`` and the dashboard."""

    info: RunInfo
    started: str | None
    finished: str | None
    rate_per_s: float | None
    eta_s: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe mapping."""
        info = self.info
        return {
            "run_id": info.path.name,
            "status": info.status,
            "iterations": info.iterations,
            "total": info.total,
            "seed": info.seed,
            "metric": info.metric,
            "best": info.best,
            "config_hash": info.config_hash,
            "message": info.message,
            "started": self.started,
            "finished": self.finished,
            "rate_per_s": self.rate_per_s,
            "eta_s": self.eta_s,
            "champion": None if info.champion is None else dict(info.champion),
            "counters": dict(info.metrics),
        }


class RunReader:
    """The runs under ``runs_dir``, read on request (runs may be written meanwhile).

    Args:
        runs_dir: the directory holding run directories.
    """

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)
        self._lock = threading.Lock()
        self._search: dict[str, tuple[int, SearchView]] = {}
        self._sheets: dict[tuple[str, str], TearSheet] = {}

    def run_ids(self) -> list[str]:
        """Ids of the runs, oldest first."""
        return list_run_ids(self.runs_dir)

    def resolve(self, run_id: str) -> str:
        """``run_id`` once checked against the id rule and the listed runs.

        Raises:
            RunIdError: not shaped like a run id.
            RunNotFoundError: no such run under ``runs_dir``.
        """
        check_run_id(run_id)
        if run_id not in self.run_ids():
            raise RunNotFoundError(f"no run {run_id!r} under {self.runs_dir}")
        return run_id

    def progress(self, run_id: str) -> RunProgress:
        """Status, counts, rate and ETA of one run."""
        run_id = self.resolve(run_id)
        info = describe_run(self.runs_dir, run_id)
        rundir = RunDir(self.runs_dir / run_id)
        run = rundir.read_json(rundir.run)
        started, finished = run.get("started"), run.get("finished")
        rate = eta = None
        start = _parse(started)
        if start is not None and info.iterations:
            end = _parse(finished) or _parse(info.metrics.get("last_iteration_at"))
            end = end or dt.datetime.now(dt.UTC)
            elapsed = (end - start).total_seconds()
            if elapsed > 0:
                rate = info.iterations / elapsed
                if info.status == "running" and info.total > info.iterations:
                    eta = (info.total - info.iterations) / rate
        return RunProgress(info, started, finished, rate, eta)

    def records(self, run_id: str) -> Iterator[IterationRecord]:
        """The run's committed records, in order."""
        run_id = self.resolve(run_id)
        return iter_history(RunDir(self.runs_dir / run_id).history)

    def history_page(
        self, run_id: str, since: int, limit: int
    ) -> tuple[list[IterationRecord], int | None]:
        """Records with ``iteration_num >= since``, at most ``limit``; and the next ``since``."""
        page: list[IterationRecord] = []
        for record in self.records(run_id):
            if record.iteration_num < since:
                continue
            if len(page) == limit:
                return page, record.iteration_num
            page.append(record)
        return page, None

    def search(self, run_id: str) -> SearchView:
        """The run's search view (refolded when its history grew)."""
        run_id = self.resolve(run_id)
        rundir = RunDir(self.runs_dir / run_id)
        size = rundir.history.stat().st_size if rundir.history.is_file() else 0
        with self._lock:
            cached = self._search.get(run_id)
        if cached is not None and cached[0] == size:
            return cached[1]
        info = describe_run(self.runs_dir, run_id)
        view = search_view(run_id, info.metric, self.records(run_id))
        with self._lock:
            self._search[run_id] = (size, view)
        return view

    def tearsheet(self, run_id: str) -> TearSheet:
        """The tear sheet of the run's current champion (cached per champion).

        Raises:
            RunError: the run has no champion yet, or its configuration is unreadable.
        """
        run_id = self.resolve(run_id)
        info = describe_run(self.runs_dir, run_id)
        champion = info.champion
        key = (run_id, "" if champion is None else str(champion.get("candidate_id")))
        with self._lock:
            cached = self._sheets.get(key)
        if cached is not None:
            return cached
        _, config = open_run(self.runs_dir, run_id)
        sheet = build_tearsheet(
            run_id, config, champion, self.records(run_id), load_run_panel(config)
        )
        with self._lock:
            self._sheets[key] = sheet
        return sheet

    def series(self, run_id: str) -> ChampionSeries:
        """The champion's daily series (see :meth:`tearsheet`)."""
        return self.tearsheet(run_id).series


def _parse(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
