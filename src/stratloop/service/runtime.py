"""The learning loop as a service: one run in a background thread, observed while it runs.

:class:`LoopService` starts a real run (the loop package's
:class:`~stratloop.loop.LoopRunner`) in a daemon thread. The runner re-reads
the flag source before every iteration, so a flags-file edit rolls the
running loop back without a restart. The service watches the run through the
runner's progress hook, folding each committed record into a
:class:`~stratloop.service.tally.HistoryTally` (bounded counts, not the
records: a run may commit millions), and times every audit write through a
wrapper around the run's audit sink; :meth:`LoopService.state` returns a
frozen :class:`ServiceState` from which the monitor publishes the snapshot
that ``/health``, ``/metrics`` and the dashboard serve. Every change (a
commit, a pause, the end of the run) sets :attr:`LoopService.changed`, so the
publisher wakes for it.

A bad flags file pauses the loop at the next iteration boundary (the runner
waits there and tells the service, which reports ``paused`` with the reason);
the loop continues when the file reads cleanly again. ``resume`` continues an
existing run (an id, or ``latest``) instead of creating one.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stratloop._preempt import involuntary_switches
from stratloop.config.models import StratloopConfig
from stratloop.errors import RunError, StratloopError
from stratloop.flags import FlagSource
from stratloop.iteration import IterationRecord
from stratloop.llm.budget import Usage
from stratloop.loop.assemble import parts_factory
from stratloop.loop.history import iter_history
from stratloop.loop.rundir import RunDir, list_run_ids, new_run_id, utc_now
from stratloop.loop.runner import AuditSink, LoopParts, LoopRunner, absolute_paths, open_run
from stratloop.service.tally import HistoryCounts, HistoryTally

__all__ = ["LoopService", "PartsFactory", "ServiceState", "TimedAuditSink"]

PartsFactory = Callable[[StratloopConfig, FlagSource, str, Usage], LoopParts]
"""Builds the run's parts from (config, flag source, run id, LLM usage spent)."""

_WRITE_SAMPLES = 2048


def _resident_bytes() -> int | None:
    """This process's resident memory in bytes (Linux ``/proc``), or None elsewhere."""
    try:
        fields = Path("/proc/self/statm").read_text(encoding="ascii").split()
    except OSError:
        return None
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")


class TimedAuditSink:
    """An audit sink that times each write of the sink it wraps and counts failed writes.

    Args:
        inner: the run's real audit sink.
    """

    def __init__(self, inner: AuditSink) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._ms: deque[float] = deque(maxlen=_WRITE_SAMPLES)
        self._errors: list[str] = []
        self._preempted = 0

    def write(self, record: IterationRecord) -> None:
        """Write through, timing the call; a failure is counted and re-raised.

        A write during which the scheduler preempted the loop's thread (another
        process had the core) is counted but not timed: its wall time is not the
        audit's cost (:mod:`stratloop._preempt`).
        """
        switches = involuntary_switches()
        start = time.perf_counter()
        try:
            self._inner.write(record)
        except Exception as exc:
            with self._lock:
                self._errors.append(f"{type(exc).__name__}: {exc}")
            raise
        elapsed = (time.perf_counter() - start) * 1000.0
        preempted = involuntary_switches() != switches
        with self._lock:
            if preempted:
                self._preempted += 1
            else:
                self._ms.append(elapsed)

    def backfill(self, records: Sequence[IterationRecord]) -> int:
        """Delegate a resume's backfill."""
        return self._inner.backfill(records)

    @property
    def recovery_messages(self) -> tuple[str, ...]:
        """The wrapped sink's repairs on opening."""
        return self._inner.recovery_messages

    def close(self) -> None:
        """Close the wrapped sink."""
        self._inner.close()

    def samples(self) -> tuple[tuple[float, ...], tuple[str, ...]]:
        """The recent write times in milliseconds, and every write error so far."""
        with self._lock:
            return tuple(self._ms), tuple(self._errors)

    def untimed(self) -> int:
        """Writes not timed because the thread was preempted during them."""
        with self._lock:
            return self._preempted


@dataclass(frozen=True, slots=True)
class ServiceState:
    """What the service knows at one moment.

    Args:
        run_id: the run the service is running.
        status: ``starting``, ``running``, ``paused`` (at an iteration
            boundary, on a bad flag source), or how the run ended
            (``completed``, ``interrupted``, ``budget_exhausted``, ``failed``).
        error: the message of the error that stopped the run, if any.
        paused: why the loop is paused, while it is.
        total: iterations the run is configured for.
        history: the committed history records so far, folded into counts.
        audit_write_ms: recent audit write times.
        audit_write_errors: audit writes that failed.
        memory_now: resident bytes now.
        started_at: when the service started the run (UTC).
        resumed_from: iterations the run had committed before this service resumed it.
        notes: what resuming repaired (a torn history line, audit records written late).
        audit_writes_untimed: audit writes not timed (preempted by other processes).
    """

    run_id: str
    status: str
    error: str | None
    total: int
    history: HistoryCounts = field(repr=False)
    audit_write_ms: tuple[float, ...] = field(repr=False)
    audit_write_errors: tuple[str, ...]
    memory_now: int | None
    started_at: str
    paused: str | None = None
    resumed_from: int = 0
    notes: tuple[str, ...] = ()
    audit_writes_untimed: int = 0

    @property
    def iteration(self) -> int:
        """Committed iterations."""
        return self.history.iterations

    @property
    def last_iteration_at(self) -> str | None:
        """UTC timestamp of the last committed iteration."""
        return self.history.last_timestamp


class LoopService:
    """Runs one learning-loop run in a background thread and reports on it.

    Args:
        config: the effective configuration of the run.
        flags: the flag source the loop re-reads before each iteration.
        make_parts: builds the run's parts (default: the real ones, as ``stratloop run``).
        audit_path: overrides ``audit.path``.
        resume: continue this existing run (a run id, or ``latest``) from its
            last committed iteration, with the configuration it was started
            with (``iterations`` may raise its length); None starts a new run.

    Raises:
        RunError: ``resume`` names no run of ``loop.runs_dir``, or its configuration is unusable.
    """

    def __init__(
        self,
        config: StratloopConfig,
        flags: FlagSource,
        *,
        make_parts: PartsFactory | None = None,
        audit_path: Path | None = None,
        resume: str | None = None,
        iterations: int | None = None,
        run_id: str | None = None,
    ) -> None:
        config = absolute_paths(config, Path.cwd())
        self._resumed: RunDir | None = None
        if resume is not None and run_id is not None:
            raise RunError(
                f"run id {run_id!r} is for a new run, but resuming {resume!r} was asked; "
                "give one of them"
            )
        if resume is not None:
            self._resumed, config = _resumable(config, resume, iterations)
            audit_path = Path(config.audit.path)
        self.config = config
        self.flags = flags
        self.audit_path = Path(self.config.audit.path) if audit_path is None else audit_path
        self.run_id = self._resumed.run_id if self._resumed is not None else run_id or new_run_id()
        self._make_parts = make_parts or _real_parts(self.audit_path)
        self._lock = threading.Lock()
        self.changed = threading.Event()
        """Set whenever the state changes (a commit, a pause, the run's end)."""
        self._tally = HistoryTally(config.generation, config.loop.failure_rate_window)
        self._resumed_from = 0
        self._status = "starting"
        self._error: str | None = None
        self._paused: str | None = None
        self._started_at = utc_now()
        self._sink: TimedAuditSink | None = None
        self._runner: LoopRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def runs_dir(self) -> Path:
        """Where the run directory is."""
        return Path(self.config.loop.runs_dir)

    def start(self) -> None:
        """Create (or resume) the run: directory, lock, config.json; then run it in a thread.

        The loop thread creates the runner, runs it and releases its lock: the
        run's file lock belongs to the thread that took it, so taking it here
        and releasing it there would leave it held. :meth:`start` waits until
        the run exists and re-raises what prevented it.

        Raises:
            StratloopError: the run cannot be created (its directory, its data, its parts).
        """
        created = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(created, failure), name="stratloop-loop", daemon=True
        )
        self._thread.start()
        created.wait()
        if failure:
            self._thread.join()
            raise failure[0]

    def stop(self, timeout: float | None = None) -> None:
        """Ask the loop to stop after its current batch and wait for it."""
        if self._runner is not None:
            self._runner.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def notes(self) -> tuple[str, ...]:
        """What resuming repaired (a torn history line, audit records written late)."""
        return () if self._runner is None else self._runner.notes

    def _create(self) -> LoopRunner:
        def parts(spent: Usage) -> LoopParts:
            built = self._make_parts(self.config, self.flags, self.run_id, spent)
            if built.audit is None:
                return built
            self._sink = TimedAuditSink(built.audit)
            return dataclasses.replace(built, audit=self._sink)

        if self._resumed is None:
            return LoopRunner.create(self.config, parts, run_id=self.run_id)
        runner = LoopRunner.resume(self._resumed, self.config, parts)
        with self._lock:
            for record in iter_history(self._resumed.history):
                self._tally.add(record)
            self._resumed_from = self._tally.counts().iterations
        return runner

    def _run(self, created: threading.Event, failure: list[BaseException]) -> None:
        try:
            self._runner = self._create()
        except BaseException as exc:  # noqa: BLE001 - handed to start(), which re-raises it
            failure.append(exc)
            return
        finally:
            created.set()
        self._set(status="running")
        try:
            summary = self._runner.run(self)
        except StratloopError as exc:
            self._set(status="failed", error=str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the thread's last word must reach /health
            self._set(status="failed", error=f"{type(exc).__name__}: {exc}")
            return
        self._set(status=summary.status)

    def _set(self, *, status: str, error: str | None = None) -> None:
        with self._lock:
            self._status, self._error, self._paused = status, error, None
        self.changed.set()

    def begin(self, total: int, done: int) -> None:
        """Progress hook: the run starts."""

    def committed(self, record: IterationRecord, best: float | None) -> None:
        """Progress hook: fold the committed record into the tally (the record is not kept)."""
        del best
        with self._lock:
            self._tally.add(record)
        self.changed.set()

    def paused(self, reason: str | None) -> None:
        """Progress hook: the loop paused at an iteration boundary (``reason``), or continued."""
        with self._lock:
            self._paused = reason
            self._status = "running" if reason is None else "paused"
        self.changed.set()

    def end(self) -> None:
        """Progress hook: the run stopped."""

    def state(self) -> ServiceState:
        """A frozen snapshot of the run as the service sees it now."""
        writes, errors = self._sink.samples() if self._sink is not None else ((), ())
        untimed = self._sink.untimed() if self._sink is not None else 0
        with self._lock:
            return ServiceState(
                run_id=self.run_id,
                status=self._status,
                error=self._error,
                total=self.config.loop.iterations,
                history=self._tally.counts(),
                audit_write_ms=writes,
                audit_write_errors=errors,
                memory_now=_resident_bytes(),
                started_at=self._started_at,
                paused=self._paused,
                resumed_from=self._resumed_from,
                notes=self.notes,
                audit_writes_untimed=untimed,
            )


def _resumable(
    config: StratloopConfig, resume: str, iterations: int | None
) -> tuple[RunDir, StratloopConfig]:
    """The run ``resume`` names under ``config``'s runs directory, and its stored configuration."""
    runs_dir = Path(config.loop.runs_dir)
    run_id = resume
    if resume == "latest":
        ids = list_run_ids(runs_dir)
        if not ids:
            raise RunError(
                f"--resume latest: there is no run in {runs_dir} to resume; start one without "
                "--resume"
            )
        run_id = ids[-1]
    rundir, stored = open_run(runs_dir, run_id)
    if iterations is not None:
        stored = stored.model_copy(
            update={"loop": stored.loop.model_copy(update={"iterations": iterations})}
        )
    return rundir, stored


def _real_parts(audit_path: Path) -> PartsFactory:
    def make(config: StratloopConfig, flags: FlagSource, run_id: str, spent: Usage) -> LoopParts:
        return parts_factory(config, flags=flags, run_id=run_id, audit_path=audit_path)(spent)

    return make
