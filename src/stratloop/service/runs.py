"""Read-only access to the run directories under one ``runs_dir``, for ``/api`` and reports.

A run id from outside (a URL, the command line) is checked twice before any
file is opened: it must look like a run id (letters, digits, ``.``, ``_``,
``-``; no separators, no ``..``; at most 100 characters) and it must be one of
the run directories actually listed under ``runs_dir``. Nothing else is ever
joined to the path, so no id can reach a file outside a run directory.

A run's history is followed, not re-read: a :class:`_Follower` per run
folds only the records committed since its last read into the run's search
view, and a history page opens only the segment that holds its ``since``
(:func:`~stratloop.loop.history.iter_history` skips closed segments by their
names and earlier lines without parsing them). Serving a run that has
committed a million iterations therefore costs what the new lines cost, plus
a scan of the live file, which rotation keeps to a few MiB. The tear sheet
(a backtest of the champion) is kept for the run's current champion only.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratloop.errors import RunIdError, RunNotFoundError
from stratloop.iteration import IterationRecord
from stratloop.loop.evaluation import load_run_panel
from stratloop.loop.history import count_committed, iter_history
from stratloop.loop.holdout import read_holdout
from stratloop.loop.inspect import RunInfo, describe_run
from stratloop.loop.rundir import RunDir, list_run_ids
from stratloop.loop.runner import open_run
from stratloop.report.returns import ChampionSeries
from stratloop.report.search import SearchFold, SearchView
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


class _Follower:
    """Follows one run's growing history: committed records only, each folded once.

    A history that now holds fewer records than were folded (a repair dropped
    some) is followed again from the start with a fresh fold.
    """

    def __init__(self, path: Path, run_id: str, metric: str) -> None:
        self.path = path
        self._run_id, self._metric = run_id, metric
        self.fold = SearchFold(run_id, metric)
        self.count = 0

    def catch_up(self) -> None:
        """Fold every record committed since the last call."""
        before = self.count
        for record in iter_history(self.path, self.count):
            self.fold.add(record)
            self.count += 1
        if self.count == before and count_committed(self.path) < self.count:
            self.fold = SearchFold(self._run_id, self._metric)
            self.count = 0
            self.catch_up()


class RunReader:
    """The runs under ``runs_dir``, read on request (runs may be written meanwhile).

    Args:
        runs_dir: the directory holding run directories.
    """

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)
        self._lock = threading.Lock()
        self._followers: dict[str, _Follower] = {}
        self._finished: dict[str, tuple[tuple[int, ...], RunProgress]] = {}
        self._sheets: dict[str, tuple[str, TearSheet]] = {}

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
        """Status, counts, rate and ETA of one run.

        A run that has ended is read once and kept for as long as its files
        are unchanged (listing a hundred finished runs should not count every
        history line on each dashboard refresh); a live one is read each time.
        """
        run_id = self.resolve(run_id)
        stamp = _stamp(RunDir(self.runs_dir / run_id))
        with self._lock:
            cached = self._finished.get(run_id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        progress = self._read_progress(run_id)
        if progress.info.status in _ENDED:
            with self._lock:
                self._finished[run_id] = (stamp, progress)
        return progress

    def _read_progress(self, run_id: str) -> RunProgress:
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

    def _follow(self, run_id: str) -> _Follower:
        """The run's follower, caught up with its history file (call with the lock held)."""
        follower = self._followers.get(run_id)
        if follower is None:
            metric = describe_run(self.runs_dir, run_id).metric
            history = RunDir(self.runs_dir / run_id).history
            follower = self._followers[run_id] = _Follower(history, run_id, metric)
        follower.catch_up()
        return follower

    def history_page(
        self, run_id: str, since: int, limit: int
    ) -> tuple[list[IterationRecord], int | None]:
        """Committed records from iteration ``since``, at most ``limit``; and the next ``since``."""
        run_id = self.resolve(run_id)
        with self._lock:
            follower = self._follow(run_id)
            committed = follower.count
        page: list[IterationRecord] = []
        if since < committed and limit > 0:
            for record in iter_history(follower.path, since):
                page.append(record)
                if len(page) == limit or record.iteration_num + 1 >= committed:
                    break
        number = since + len(page)
        following = number if number < committed and len(page) == limit else None
        return page, following

    def search(self, run_id: str) -> SearchView:
        """The run's search view, with every record committed so far."""
        run_id = self.resolve(run_id)
        with self._lock:
            return self._follow(run_id).fold.view()

    def tearsheet(self, run_id: str) -> TearSheet:
        """The tear sheet of the run's current champion (cached per champion).

        Raises:
            RunError: the run has no champion yet, or its configuration is unreadable.
        """
        run_id = self.resolve(run_id)
        champion = describe_run(self.runs_dir, run_id).champion
        looks = read_holdout(RunDir.open(self.runs_dir, run_id))
        opened = champion is not None and any(
            look.get("iteration") == champion.get("iteration") for look in looks
        )
        key = "" if champion is None else f"{champion.get('candidate_id')}:{opened}"
        with self._lock:
            cached = self._sheets.get(run_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        rundir, config = open_run(self.runs_dir, run_id)
        sheet = build_tearsheet(
            run_id,
            config,
            champion,
            self.search(run_id),
            load_run_panel(config),
            holdout_opened=opened,
            archive=rundir.read_json(rundir.archive) if rundir.archive.is_file() else None,
        )
        with self._lock:
            self._sheets[run_id] = (key, sheet)
        return sheet

    def series(self, run_id: str) -> ChampionSeries:
        """The champion's daily series (see :meth:`tearsheet`)."""
        return self.tearsheet(run_id).series


_ENDED = frozenset({"completed", "failed", "interrupted", "budget_exhausted"})
"""Statuses a run directory keeps until it is resumed (which rewrites its files)."""


def _stamp(rundir: RunDir) -> tuple[int, ...]:
    """Size and modification time of the files a run's progress is read from."""
    out: list[int] = []
    for path in (rundir.run, rundir.history, rundir.champion, rundir.metrics):
        try:
            info = path.stat()
        except FileNotFoundError:
            out.extend((-1, -1))
            continue
        out.extend((info.st_size, info.st_mtime_ns))
    return tuple(out)


def _parse(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
