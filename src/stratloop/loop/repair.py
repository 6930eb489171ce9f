"""``stratloop repair RUN_ID``: make a damaged run resumable, keeping every valid iteration.

A run's history can be damaged by anything outside the loop's control: two
writers on one run (possible before the run lock was held on the history
file itself), a disk that failed mid-line, an edit by hand. The repair keeps
every valid committed iteration that continues the sequence 0, 1, 2, ... in
file order (the first record of each iteration wins) and drops the rest:
torn lines, lines that are not records, second records of an iteration,
iterations out of sequence. Nothing is renumbered. A kept record whose
champion flag disagrees with the champion rule over the kept iterations (a
second writer decided it against its own champion) gets the flag the rule
gives, and the report lists it.

Nothing is lost: the damaged file stays beside the repaired one as
``history.jsonl.before-repair-<time>``, and ``history.jsonl.repair-<time>.json``
records what was dropped or changed and why. ``champion.json``,
``metrics.json`` and ``run.json`` are rebuilt from the kept iterations. The
repair holds the run's lock, so it refuses while a live writer holds the run.
Closed history segments (``history.<first>-<last>.jsonl.xz``) were written by
the run's owner from checked lines and stay as they are; the repair rewrites
the live ``history.jsonl`` after them (a half-rotated run, whose live file
still holds lines a segment holds, loses those duplicates). The audit trail
is not changed (its records are the permanent record of what happened, and
``stratloop audit verify`` reports any break in it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from stratloop._fsync import fsync_dir
from stratloop.errors import RunError
from stratloop.loop.history import DroppedLine, plan_repair
from stratloop.loop.rundir import RunDir, atomic_write_json, storage_error, utc_now
from stratloop.loop.runlock import RunLock
from stratloop.loop.runner import STOPPED, open_run, run_metrics
from stratloop.loop.state import LoopState

__all__ = ["RepairReport", "RewrittenLine", "describe", "repair_run"]


@dataclass(frozen=True, slots=True)
class RewrittenLine:
    """A kept record whose champion flag the repair set to what the champion rule gives."""

    line: int
    iteration: int
    champion: bool
    """The flag as rewritten (the line said the opposite)."""


@dataclass(frozen=True, slots=True)
class RepairReport:
    """What :func:`repair_run` found and did."""

    run_id: str
    kept: int
    """Iterations kept (0 .. kept - 1)."""
    dropped: tuple[DroppedLine, ...]
    rewritten: tuple[RewrittenLine, ...]
    backup: Path | None
    """The damaged history, kept as it was; None when nothing had to change."""
    report: Path | None
    """The JSON record of the repair; None when nothing had to change."""

    @property
    def changed(self) -> bool:
        """Whether the history had to be repaired."""
        return bool(self.dropped or self.rewritten)


def repair_run(runs_dir: Path, run_id: str) -> RepairReport:
    """Repair run ``run_id`` under ``runs_dir`` (see the module docstring).

    Raises:
        RunStorageError: the repaired files could not be written (the damaged
            history is then still in place).
        RunError: no such run, its configuration is unusable, or another process
            holds it (a live writer: let it finish or stop it first).
    """
    rundir, config = open_run(runs_dir, run_id)
    lock = rundir.lock(resume=True)
    try:
        plan = plan_repair(rundir.history)
        state = LoopState(config)
        rewritten: list[RewrittenLine] = []
        kept: list[bytes] = []
        line_of = _kept_line_numbers(len(plan.kept), plan.dropped)
        for raw, record in zip(plan.kept, plan.records, strict=True):
            became = state.apply(record)
            if became == record.champion:
                kept.append(raw)
                continue
            number = line_of[record.iteration_num]
            if record.iteration_num < plan.in_segments:
                raise RunError(
                    f"run {run_id}: iteration {record.iteration_num}, in a closed history "
                    "segment, records a champion flag the champion rule does not give; the "
                    "segment was edited: restore it from a backup, then repair again"
                )
            rewritten.append(RewrittenLine(number, record.iteration_num, became))
            kept.append((record.with_champion(became).to_json() + "\n").encode())
        if not plan.dropped and not rewritten:
            return RepairReport(run_id, len(kept), (), (), None, None)
        stamp = utc_now().replace(":", "").replace("-", "")[:15]
        backup = rundir.history.with_name(f"{rundir.history.name}.before-repair-{stamp}")
        report = rundir.history.with_name(f"{rundir.history.name}.repair-{stamp}.json")
        result = RepairReport(run_id, len(kept), plan.dropped, tuple(rewritten), backup, report)
        atomic_write_json(report, _report_json(result))
        lock = _replace_history(rundir, lock, b"".join(kept[plan.in_segments :]), backup)
        _rebuild_derived(rundir, state, result)
    finally:
        lock.release()
    return result


def _kept_line_numbers(count: int, dropped: tuple[DroppedLine, ...]) -> dict[int, int]:
    """Line number of each kept iteration, from the numbers the dropped lines take."""
    skipped = {item.line for item in dropped}
    numbers: dict[int, int] = {}
    line = 0
    for iteration in range(count):
        line += 1
        while line in skipped:
            line += 1
        numbers[iteration] = line
    return numbers


def _replace_history(rundir: RunDir, lock: RunLock, data: bytes, backup: Path) -> RunLock:
    """Put ``data`` in place of ``history.jsonl``, locked before anyone can open it.

    The damaged file keeps its bytes under ``backup`` (a hard link); the new
    file is written and locked under a temporary name and then renamed over the
    history, so a writer opening ``history.jsonl`` at any moment finds either
    the damaged file (locked by this process) or the repaired one (locked too).
    """
    history = rundir.history
    tmp = history.with_name(f".{history.name}.repair.tmp")
    try:
        os.link(history, backup)
        tmp.unlink(missing_ok=True)
        fresh = RunLock.acquire(rundir.run_id, tmp, rundir.run)
    except OSError as exc:
        raise storage_error(history, exc, "set aside the damaged") from exc
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fresh.fd, view) :]
        os.fsync(fresh.fd)
        tmp.replace(history)
        fsync_dir(history.parent)
    except OSError as exc:
        fresh.release()
        tmp.unlink(missing_ok=True)
        raise storage_error(history, exc, "write the repaired") from exc
    lock.release()
    fresh.history = history
    return fresh


def _rebuild_derived(rundir: RunDir, state: LoopState, result: RepairReport) -> None:
    """``champion.json``, ``metrics.json`` and ``run.json`` as the kept iterations give them."""
    champion = state.champion.as_dict()
    if champion is None:
        rundir.champion.unlink(missing_ok=True)
    else:
        atomic_write_json(rundir.champion, champion)
    atomic_write_json(
        rundir.metrics, run_metrics(state, rundir.run_id, worker_restarts=0), durable=False
    )
    payload = rundir.read_json(rundir.run)
    dropped = len(result.dropped)
    payload.update(
        status=STOPPED,
        iterations=result.kept,
        finished=utc_now(),
        message=(
            f"repaired: kept {_kept(result.kept)}, dropped {dropped} line(s), "
            f"rewrote {len(result.rewritten)} champion flag(s) (see {_name(result.report)}); "
            f"resume with: stratloop run --resume {rundir.run_id}"
        ),
    )
    payload.pop("writer", None)
    atomic_write_json(rundir.run, payload)


def _kept(count: int) -> str:
    return "no iterations" if count == 0 else f"iterations 0-{count - 1} ({count})"


def _name(path: Path | None) -> str:
    return "" if path is None else path.name


def _report_json(result: RepairReport) -> dict[str, object]:
    return {
        "run_id": result.run_id,
        "repaired": utc_now(),
        "kept": result.kept,
        "backup": _name(result.backup),
        "dropped": [
            {
                "line": item.line,
                "iteration": item.iteration,
                "reason": item.reason,
                "text": item.text.decode("utf-8", errors="replace"),
            }
            for item in result.dropped
        ],
        "rewritten": [
            {"line": item.line, "iteration": item.iteration, "champion": item.champion}
            for item in result.rewritten
        ],
    }


def describe(result: RepairReport) -> list[str]:
    """The repair as lines of text, one per dropped or rewritten line (the CLI prints them)."""
    if not result.changed:
        return [f"run {result.run_id}: history intact, {result.kept} iterations; nothing to repair"]
    lines = [
        f"run {result.run_id}: kept {_kept(result.kept)}; dropped "
        f"{len(result.dropped)} line(s); rewrote {len(result.rewritten)} champion flag(s)"
    ]
    lines.extend(f"  dropped line {item.line}: {item.reason}" for item in result.dropped)
    lines.extend(
        f"  line {item.line} (iteration {item.iteration}): champion flag set to "
        f"{json.dumps(item.champion)}, as the champion rule gives over the kept iterations"
        for item in result.rewritten
    )
    lines.append(f"the damaged history is kept as {_name(result.backup)}")
    lines.append(f"this repair is recorded in {_name(result.report)}")
    lines.append(f"resume with: stratloop run --resume {result.run_id}")
    return lines
