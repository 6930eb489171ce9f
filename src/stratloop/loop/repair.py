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

The flags history ``flags.jsonl`` is made to agree with the kept
iterations, each of which records the flags it ran under: a line is dropped
when it is not a flags line, is out of order, names an iteration that is not
in the kept history (a second writer's, or one never committed), or names
flags that differ from those its iteration's kept record ran under; a line is
added (from the record) wherever the kept records show flags that no line
puts in force. A second writer's lines therefore cannot say that the run ran
under flags it did not run under.

Nothing is lost: the damaged files stay beside the repaired ones as
``history.jsonl.before-repair-<time>`` (and ``flags.jsonl.before-repair-<time>``),
and ``history.jsonl.repair-<time>.json`` records what was dropped or changed
and why. When the history changed, ``champion.json``,
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
from stratloop.iteration import IterationRecord
from stratloop.loop.history import DroppedLine, plan_repair
from stratloop.loop.rundir import RunDir, atomic_write_json, storage_error, utc_now
from stratloop.loop.runlock import RunLock
from stratloop.loop.runner import STOPPED, open_run, run_metrics
from stratloop.loop.state import LoopState

__all__ = ["FlagsRepair", "RepairReport", "RewrittenLine", "describe", "plan_flags", "repair_run"]


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
    flags: FlagsRepair | None = None
    """What was done to ``flags.jsonl``; None when it already agreed with the kept history."""
    flags_backup: Path | None = None
    """The damaged ``flags.jsonl``, kept as it was (None: unchanged, or there was none)."""

    @property
    def changed(self) -> bool:
        """Whether the history or the flags history had to be repaired."""
        return bool(self.dropped or self.rewritten or self.flags is not None)


@dataclass(frozen=True, slots=True)
class FlagsRepair:
    """``flags.jsonl`` made to agree with the kept iterations (see the module docstring)."""

    data: bytes
    """The repaired file's bytes."""
    dropped: tuple[DroppedLine, ...]
    added: tuple[int, ...]
    """Iterations whose flags line was rebuilt from their record."""


def plan_flags(path: Path, records: tuple[IterationRecord, ...]) -> FlagsRepair | None:
    """What ``flags.jsonl`` at ``path`` must become to agree with ``records``; None if it does.

    Args:
        path: the run's ``flags.jsonl`` (missing: every needed line is added).
        records: the kept iterations 0, 1, 2, ... in order.
    """
    try:
        lines = path.read_bytes().splitlines(keepends=True)
    except FileNotFoundError:
        lines = []
    except OSError as exc:
        raise storage_error(path, exc, "read") from exc
    kept, dropped = _judge_flags_lines(lines, records)
    data, added = _fill_flags(kept, records)
    if not dropped and not added:
        return None
    return FlagsRepair(data, dropped, added)


def _judge_flags_lines(
    lines: list[bytes], records: tuple[IterationRecord, ...]
) -> tuple[list[tuple[int, bytes]], tuple[DroppedLine, ...]]:
    """The lines that agree with ``records`` as ``(iteration, line)``, and the dropped ones."""
    kept: list[tuple[int, bytes]] = []
    dropped: list[DroppedLine] = []
    last = -1
    for number, raw in enumerate(lines, start=1):
        iteration, flags, problem = _flags_line(raw)
        if iteration is not None and problem is None:
            if iteration < last:
                problem = f"iteration {iteration} out of order (after a line for iteration {last})"
            elif iteration >= len(records):
                problem = f"iteration {iteration} is not in the kept history: none ran under it"
            elif flags != dict(records[iteration].flags):
                problem = (
                    f"flags differ from those iteration {iteration}'s kept record ran under "
                    "(another writer's)"
                )
        if iteration is None or problem is not None:
            dropped.append(DroppedLine(number, iteration, problem or "", raw))
            continue
        last = iteration
        kept.append((iteration, raw))
    return kept, tuple(dropped)


def _fill_flags(
    kept: list[tuple[int, bytes]], records: tuple[IterationRecord, ...]
) -> tuple[bytes, tuple[int, ...]]:
    """``kept`` with a line added from the record wherever no line puts its flags in force."""
    out: list[bytes] = []
    added: list[int] = []
    in_force: dict[str, object] | None = None
    position = 0
    for record in records:
        while position < len(kept) and kept[position][0] <= record.iteration_num:
            out.append(kept[position][1])
            in_force = dict(records[kept[position][0]].flags)
            position += 1
        if in_force != dict(record.flags):
            in_force = dict(record.flags)
            added.append(record.iteration_num)
            line = {
                "iteration_num": record.iteration_num,
                "timestamp": record.timestamp,
                "flags": in_force,
            }
            out.append((json.dumps(line, sort_keys=True) + "\n").encode())
    return b"".join(out), tuple(added)


def _flags_line(raw: bytes) -> tuple[int | None, dict[str, object] | None, str | None]:
    """``(iteration, flags, problem)`` of one line of ``flags.jsonl``."""
    if not raw.endswith(b"\n"):
        return None, None, "torn: no newline at its end"
    try:
        data = json.loads(raw)
    except ValueError:
        return None, None, "not valid JSON"
    iteration = data.get("iteration_num") if isinstance(data, dict) else None
    flags = data.get("flags") if isinstance(data, dict) else None
    if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
        return None, None, "not a flags line (no iteration_num)"
    if not isinstance(flags, dict):
        return iteration, None, "not a flags line (no flags object)"
    return iteration, flags, None


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
        flags = plan_flags(rundir.flags, plan.records)
        if not plan.dropped and not rewritten and flags is None:
            return RepairReport(run_id, len(kept), (), (), None, None)
        stamp = utc_now().replace(":", "").replace("-", "")[:15]
        history_changed = bool(plan.dropped or rewritten)
        backup = rundir.history.with_name(f"{rundir.history.name}.before-repair-{stamp}")
        report = rundir.history.with_name(f"{rundir.history.name}.repair-{stamp}.json")
        flags_backup = None
        if flags is not None and rundir.flags.exists():
            flags_backup = rundir.flags.with_name(f"{rundir.flags.name}.before-repair-{stamp}")
        result = RepairReport(
            run_id,
            len(kept),
            plan.dropped,
            tuple(rewritten),
            backup if history_changed else None,
            report,
            flags,
            flags_backup,
        )
        atomic_write_json(report, _report_json(result))
        if flags is not None:
            _replace_flags(rundir.flags, flags.data, flags_backup)
        if history_changed:
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


def _replace_flags(path: Path, data: bytes, backup: Path | None) -> None:
    """Put ``data`` in place of ``flags.jsonl``, keeping the old file as ``backup``."""
    tmp = path.with_name(f".{path.name}.repair.tmp")
    try:
        if backup is not None:
            os.link(path, backup)
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
        fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise storage_error(path, exc, "write the repaired") from exc


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
        "flags": None
        if result.flags is None
        else {
            "backup": _name(result.flags_backup),
            "dropped": [
                {
                    "line": item.line,
                    "iteration": item.iteration,
                    "reason": item.reason,
                    "text": item.text.decode("utf-8", errors="replace"),
                }
                for item in result.flags.dropped
            ],
            "added": list(result.flags.added),
        },
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
    flags = result.flags
    if flags is not None:
        lines.append(
            f"flags.jsonl: dropped {len(flags.dropped)} line(s), added {len(flags.added)} "
            "from the kept records"
        )
        lines.extend(f"  dropped flags line {item.line}: {item.reason}" for item in flags.dropped)
        lines.extend(
            f"  added the flags iteration {iteration} ran under (from its record)"
            for iteration in flags.added
        )
        if result.flags_backup is not None:
            lines.append(f"the damaged flags history is kept as {_name(result.flags_backup)}")
    if result.backup is not None:
        lines.append(f"the damaged history is kept as {_name(result.backup)}")
    lines.append(f"this repair is recorded in {_name(result.report)}")
    lines.append(f"resume with: stratloop run --resume {result.run_id}")
    return lines
