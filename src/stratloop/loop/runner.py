"""The learning loop: batches of decide -> generate -> validate -> backtest -> commit.

Each batch starts from one champion snapshot; its iterations are generated in
order in this process (flags re-read before each one), evaluated in parallel
by the worker pool, and committed in iteration order: history line (flushed),
champion rule, audit record when Phase 4 is in force. At the end of a batch the
history is fsynced and ``champion.json`` and ``metrics.json`` are replaced
atomically. The state is a pure function of the committed history, so a
resumed run continues exactly where an uninterrupted one would have.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import Any, Protocol

from stratloop.config import REDACTED, config_hash, snapshot
from stratloop.config.models import StratloopConfig
from stratloop.data import DATASETS
from stratloop.errors import (
    FlagError,
    LLMEmptyResponseError,
    LLMUnavailableError,
    RunError,
    RunOwnershipError,
    RunStorageError,
    StratloopError,
)
from stratloop.flags import Flags, FlagSource
from stratloop.generation.context import GenerationContext
from stratloop.generation.generate import generate_iteration
from stratloop.generation.outcome import GenerationOutcome
from stratloop.generation.strategies import CandidateSource
from stratloop.iteration import IterationRecord
from stratloop.llm.budget import TokenBudget, Usage
from stratloop.loop.archive import archives_json
from stratloop.loop.counters import FACTOR_GRAPH_ONLY
from stratloop.loop.executor import Executor, open_executor
from stratloop.loop.history import HistoryWriter, cut_torn_tail, read_history
from stratloop.loop.islands import IslandsView
from stratloop.loop.library import RunLibrary
from stratloop.loop.record import Generated
from stratloop.loop.rundir import (
    RunDir,
    atomic_write_json,
    is_out_of_space,
    new_run_id,
    storage_error,
    utc_now,
)
from stratloop.loop.runlock import RunLock
from stratloop.loop.state import LoopState
from stratloop.loop.workers import EvalResult, EvalTask, EvaluatorFactory
from stratloop.spec import Candidate

__all__ = [
    "AuditSink",
    "LoopParts",
    "LoopRunner",
    "ProgressSink",
    "RunSummary",
    "absolute_paths",
    "open_run",
    "run_metrics",
]


_OLD_REDACTED = "***"
"""The marker config.json used for redacted credentials before there was one for everything."""

STOPPED = "stopped (resumable)"
"""The status of a run stopped by its environment (a full disk, a failing LLM provider)."""

PAUSED = "paused"
"""The status while the loop waits out ``loop.failure_pause_s`` (it then goes on)."""

_PROVIDER_ERRORS = frozenset(cls.__name__ for cls in (LLMUnavailableError, LLMEmptyResponseError))
"""Generation errors that mean the LLM provider failed (not that its reply was unusable)."""


@dataclass(frozen=True, slots=True)
class _Halt:
    """Why the loop stops (or pauses) after the iterations generated so far."""

    status: str
    message: str


class AuditSink(Protocol):
    """Where Phase 4 audit records go; called once per committed, audited iteration."""

    def write(self, record: IterationRecord) -> None:
        """Append the audit record of one committed iteration."""
        ...

    def backfill(self, records: Sequence[IterationRecord]) -> int:
        """On resume: write the records of committed, audited iterations the trail lacks."""
        ...

    @property
    def recovery_messages(self) -> tuple[str, ...]:
        """What the trail repaired when it opened (a torn last line moved aside)."""
        ...

    def close(self) -> None:
        """Flush and close."""
        ...


class ProgressSink(Protocol):
    """Receives progress; the CLI's rich progress bar is one."""

    def begin(self, total: int, done: int) -> None:
        """The run starts (or resumes) with ``done`` of ``total`` iterations committed."""
        ...

    def committed(self, record: IterationRecord, best: float | None) -> None:
        """One iteration was committed; ``best`` is the champion's score."""
        ...

    def end(self) -> None:
        """The run stopped."""
        ...

    def paused(self, reason: str | None) -> None:
        """The loop paused at an iteration boundary (``reason``), or continued (None)."""
        ...


_PAUSE_POLL_S = 0.25
"""How often a loop paused on a bad flag source reads it again."""


@dataclass(frozen=True, slots=True)
class LoopParts:
    """Everything the loop is built from, injected.

    Args:
        factor_graph: the factor-graph generator.
        evaluator: builds the backtest evaluator inside each worker process.
        flags: the flag source, read before every iteration.
        llm: the LLM proposer, or None when no LLM is configured.
        budget: the LLM token/cost budget the proposer charges, if any.
        validate: checks a candidate before it is backtested; raises a
            :class:`~stratloop.errors.StratloopError` when it is invalid.
        audit: the audit trail, written when Phase 4 is in force.
        extras: read-only hints passed to generators in the context.
        library: the persistent factor library as this run sees it
            (``library.path``), or None.
    """

    factor_graph: CandidateSource
    evaluator: EvaluatorFactory
    flags: FlagSource
    llm: CandidateSource | None = None
    budget: TokenBudget | None = None
    validate: Callable[[Candidate], None] | None = None
    audit: AuditSink | None = None
    extras: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    library: RunLibrary | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """How a run ended."""

    run_id: str
    path: Path
    status: str
    iterations: int
    total: int
    message: str
    champion: Mapping[str, Any] | None
    metrics: Mapping[str, Any]


def open_run(runs_dir: Path, run_id: str) -> tuple[RunDir, StratloopConfig]:
    """An existing run directory and the configuration it was started with."""
    rundir = RunDir.open(runs_dir, run_id)
    payload = rundir.read_json(rundir.config)
    llm = json.dumps(payload.get("config", {}).get("llm", {}))
    if REDACTED in llm or _OLD_REDACTED in llm:
        raise RunError(
            f"run {run_id} cannot be resumed: its llm.base_url held credentials, which were "
            "redacted from config.json; put the key in the variable llm.api_key_env names"
        )
    try:
        config = StratloopConfig.model_validate_json(json.dumps(payload["config"]))
    except (KeyError, ValueError) as exc:
        raise RunError(
            f"run {run_id}: config.json does not hold a valid configuration: {exc}"
        ) from exc
    return rundir, config


def absolute_paths(config: StratloopConfig, base: Path) -> StratloopConfig:
    """``config`` with every file location resolved against ``base``.

    A run stores its configuration once; a relative ``audit.path`` stored as
    written would make a resume from another directory start a second trail.
    Packaged dataset names (``sp500-20``) are names, not paths, and stay.
    """

    def resolve(path: str) -> str:
        return str((base / path).resolve())

    generation = config.generation
    if generation.user_factors is not None:
        generation = generation.model_copy(
            update={"user_factors": resolve(generation.user_factors)}
        )
    data = config.data
    if data.source not in DATASETS:
        data = data.model_copy(update={"source": resolve(data.source)})
    library = config.library
    if library.path is not None:
        library = library.model_copy(update={"path": resolve(library.path)})
    return config.model_copy(
        update={
            "generation": generation,
            "data": data,
            "library": library,
            "loop": config.loop.model_copy(update={"runs_dir": resolve(config.loop.runs_dir)}),
            "audit": config.audit.model_copy(update={"path": resolve(config.audit.path)}),
        }
    )


def _config_payload(config: StratloopConfig) -> dict[str, Any]:
    data = snapshot(config)
    return {"config": data, "config_hash": config_hash(data)}


class LoopRunner:
    """Runs (or resumes) one run of the learning loop in its run directory.

    Build it with :meth:`create` or :meth:`resume`, then call :meth:`run`.
    """

    def __init__(
        self,
        config: StratloopConfig,
        rundir: RunDir,
        parts: LoopParts,
        *,
        lock: RunLock,
        state: LoopState,
        batch_state: IslandsView,
        notes: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.rundir = rundir
        self.parts = parts
        self.state = state
        self.notes = notes
        self._lock = lock
        self._batch_state = batch_state
        self._stop = threading.Event()
        self._last_flags: dict[str, Any] | None = None
        self._pool_restarts = 0
        self._champion_written = -1
        self._archive_written: tuple[Mapping[Any, Any], ...] | None = None
        self._progress: ProgressSink | None = None
        self._n_trials: dict[int, int] = {}
        self._committed = state.next_iteration
        self._provider_failures = 0

    @classmethod
    def create(
        cls,
        config: StratloopConfig,
        make_parts: Callable[[Usage], LoopParts],
        *,
        run_id: str | None = None,
    ) -> LoopRunner:
        """Start a new run: make and lock its directory, write ``config.json`` and ``run.json``.

        A run whose parts cannot be built (its data unusable, say) never starts:
        its directory is removed again and the error raised.

        Args:
            config: the effective configuration, fixed for the whole run; its
                file locations are stored resolved (:func:`absolute_paths`).
            make_parts: builds the parts, given the LLM usage already spent (none).
            run_id: the run id (default: a new sortable one).
        """
        config = absolute_paths(config, Path.cwd())
        rundir = RunDir.create(Path(config.loop.runs_dir), run_id or new_run_id())
        lock = rundir.lock()
        try:
            atomic_write_json(rundir.config, {"run_id": rundir.run_id, **_config_payload(config)})
            atomic_write_json(
                rundir.run,
                {
                    "run_id": rundir.run_id,
                    "status": "created",
                    "seed": config.loop.seed,
                    "started": utc_now(),
                    "finished": None,
                    "iterations": 0,
                    "total": config.loop.iterations,
                    "message": "",
                    "writer": lock.writer.as_json(),
                },
            )
            state = LoopState(config)
            parts = make_parts(state.usage())
        except BaseException:
            lock.release()
            rundir.discard_unstarted()
            raise
        return cls(config, rundir, parts, lock=lock, state=state, batch_state=state.islands.view())

    @classmethod
    def resume(
        cls, rundir: RunDir, config: StratloopConfig, make_parts: Callable[[Usage], LoopParts]
    ) -> LoopRunner:
        """Continue a run from its last committed iteration.

        The run is locked first. A torn last history line is moved aside and
        reported (see ``notes``); that iteration is redone. What the audit
        trail repaired when it opened is reported too. The state, including
        the LLM usage ``make_parts`` is given, is rebuilt by replaying the history.
        """
        lock = rundir.lock(resume=True)
        try:
            notes: list[str] = []
            read = read_history(rundir.history)
            if read.torn is not None:
                aside = cut_torn_tail(rundir.history, read.torn)
                notes.append(
                    f"history.jsonl had a torn last line ({read.torn.problem}); "
                    f"{len(read.torn.text)} bytes moved to {aside.name}, iteration "
                    f"{len(read.records)} is redone"
                )
            records = read.records
            size = config.loop.batch_size
            before = LoopState.replay(config, records[: (len(records) // size) * size])
            state = LoopState.replay(config, records)
            stale = state.islands.check(rundir.islands, state.next_iteration)
            notes.extend(() if stale is None else (stale,))
            parts = make_parts(state.usage())
            if parts.audit is not None:
                backfilled = parts.audit.backfill(records)
                notes.extend(parts.audit.recovery_messages)
                if backfilled:
                    notes.append(
                        f"{backfilled} committed iteration(s) had no audit record yet "
                        "(the process stopped between the two writes); written now"
                    )
        except BaseException:
            lock.release()
            raise
        return cls(
            config,
            rundir,
            parts,
            lock=lock,
            state=state,
            batch_state=before.islands.view(),
            notes=tuple(notes),
        )

    def request_stop(self) -> None:
        """Ask the loop to stop after committing the current batch (what Ctrl-C does)."""
        self._stop.set()

    def metrics(self) -> dict[str, Any]:
        """The counters snapshot: loop-side counts over committed iterations, plus run facts."""
        return run_metrics(self.state, self.rundir.run_id, worker_restarts=self._pool_restarts)

    def run(self, progress: ProgressSink | None = None) -> RunSummary:
        """Run until ``loop.iterations`` are committed, a stop is requested, or the budget stops it.

        Raises:
            StratloopError: something the run cannot go on from (the run is
                marked failed; committed iterations stay, and it can be resumed).
            RunStorageError: a run file could not be written (a full disk): the
                run is marked ``stopped (resumable)``, temp files are removed.
            RunOwnershipError: another process took the run over; ``run.json`` is
                left to it.
        """
        total = self.config.loop.iterations
        status, message = "completed", ""
        self._progress = progress
        try:
            self.rundir.set_reserve()
            self._write_run("running", "", verify=False)
            if progress is not None:
                progress.begin(total, self.state.next_iteration)
            with (
                _sigint_stops(self.request_stop),
                HistoryWriter(
                    self.rundir.history, self._lock.fd, verify=self._lock.verify
                ) as history,
                open_executor(self.parts.evaluator, self.config) as pool,
            ):
                status, message = self._loop(history, pool, progress, total)
                self._pool_restarts = pool.restarts
            if status == "completed" and self.config.library.save == "end":
                message = _joined(message, self._save_champion())
            self._write_run(status, message)
        except RunOwnershipError:
            raise
        except StratloopError as exc:
            stopped = self._record_failure(exc)
            if stopped is not None:
                raise stopped from exc
            raise
        finally:
            try:
                if progress is not None:
                    progress.end()
                if self.parts.audit is not None:
                    self.parts.audit.close()
            finally:
                self.rundir.free_reserve()
                self._lock.release()
        return RunSummary(
            run_id=self.rundir.run_id,
            path=self.rundir.root,
            status=status,
            iterations=self.state.next_iteration,
            total=total,
            message=message,
            champion=self.state.champion.as_dict(),
            metrics=self.metrics(),
        )

    def _loop(
        self,
        history: HistoryWriter,
        pool: Executor,
        progress: ProgressSink | None,
        total: int,
    ) -> tuple[str, str]:
        size = self.config.loop.batch_size
        while self.state.next_iteration < total:
            if self._stop.is_set():
                return "interrupted", "stopped by request after committing the last batch"
            start = self.state.next_iteration
            batch = start // size
            end = min((batch + 1) * size, total)
            if start == batch * size:
                self._batch_state = self.state.islands.view()
            generated, halt = self._generate(batch, start, end)
            results = self._evaluate(pool, generated)
            self._lock.verify()
            for item in generated:
                self._commit(history, self._record(item, results.get(item.iteration_num)), progress)
            history.sync()
            self._pool_restarts = pool.restarts
            self._write_batch_files()
            if halt is not None and halt.status == PAUSED:
                self._pause(halt.message)
            elif halt is not None:
                return halt.status, halt.message
        return "completed", f"{total} iterations committed"

    def _generate(self, batch: int, start: int, end: int) -> tuple[list[Generated], _Halt | None]:
        generated: list[Generated] = []
        for iteration in range(start, end):
            config, llm, mode = self.config, self.parts.llm, self.state.budget_mode
            budget = self.parts.budget
            if budget is not None and budget.exhausted:
                if self.config.llm.on_budget_exhausted == "stop":
                    return generated, _Halt("budget_exhausted", _budget_reason(budget))
                mode = FACTOR_GRAPH_ONLY
            if mode == FACTOR_GRAPH_ONLY:
                generation = config.generation.model_copy(update={"use_factor_graph": True})
                config, llm = config.model_copy(update={"generation": generation}), None
                self.state.budget_mode = mode
            flags = self._flags_at_boundary(iteration)
            if flags is None:
                return generated, None
            self._record_flags(iteration, flags)
            timestamp = utc_now()
            island = self._batch_state.at(iteration)
            ctx = GenerationContext.create(
                config,
                iteration,
                seed=island.seed,
                champion=island.parent(iteration),
                feedback=island.feedback,
                extras=self.parts.extras,
            )
            before = budget.usage if budget is not None else None
            t0 = time.perf_counter()
            outcome = generate_iteration(
                ctx,
                flags,
                llm=llm,
                factor_graph=self.parts.factor_graph,
                repeats=self.state.trials.repeat_of,
            )
            t1 = time.perf_counter()
            invalid = self._validate(outcome)
            t2 = time.perf_counter()
            if outcome.candidate is not None and invalid is None:
                self.state.trials.reserve(iteration, outcome.candidate.strategy)
                self._n_trials[iteration] = self.state.trials.distinct
            generated.append(
                Generated(
                    iteration_num=iteration,
                    batch=batch,
                    timestamp=timestamp,
                    flags=flags.as_dict(),
                    outcome=outcome,
                    audit=flags.audit_trail and self.parts.audit is not None,
                    validation_error=invalid,
                    llm_usage=_usage_delta(before, budget.usage) if budget and before else None,
                    budget_mode=mode,
                    generate_s=t1 - t0,
                    validate_s=t2 - t1,
                    llm_calls=budget.drain_calls() if budget is not None else (),
                )
            )
            halt = self._count_provider_failure(outcome)
            if halt is not None:
                return generated, halt
        return generated, None

    def _flags_at_boundary(self, iteration: int) -> Flags | None:
        """The flags for ``iteration``; while the flag source cannot be read, the loop waits here.

        A bad flags file (a typo, a missing flag, a forbidden combination)
        pauses the loop at this boundary rather than failing the run or going
        on with stale values: ``run.json`` says ``paused`` with the reason, the
        progress sink is told, and the loop continues as soon as the source
        reads cleanly again. None: a stop was requested while paused.
        """
        reason: str | None = None
        while True:
            try:
                flags = self.parts.flags.current()
            except FlagError as exc:
                message = f"paused before iteration {iteration}: {exc}"
                if message != reason:
                    reason = message
                    self._write_run(PAUSED, message)
                    if self._progress is not None:
                        self._progress.paused(message)
                if self._stop.wait(_PAUSE_POLL_S):
                    return None
                continue
            if reason is not None:
                self._write_run("running", "")
                if self._progress is not None:
                    self._progress.paused(None)
            return flags

    def _count_provider_failure(self, outcome: GenerationOutcome) -> _Halt | None:
        """Count consecutive LLM provider failures; at ``loop.max_consecutive_failures``, halt.

        Only iterations that asked the LLM count: a provider failure (also one the
        policy fell back from) adds one, an answer resets the count, factor-graph
        iterations leave it. The count starts at zero in every process, so a
        resumed run gets the full allowance again.
        """
        if outcome.decision.method != "llm":
            return None
        if outcome.error_type not in _PROVIDER_ERRORS:
            self._provider_failures = 0
            return None
        self._provider_failures += 1
        loop = self.config.loop
        if loop.max_consecutive_failures == 0 or (
            self._provider_failures < loop.max_consecutive_failures
        ):
            return None
        reason = (
            f"{self._provider_failures} consecutive LLM provider failures (loop."
            f"max_consecutive_failures is {loop.max_consecutive_failures}); the last: "
            f"{outcome.error_type}: {outcome.error_message}"
        )
        if loop.on_consecutive_failures == "pause":
            return _Halt(
                PAUSED,
                f"{reason}; paused for {loop.failure_pause_s:g} s "
                "(loop.on_consecutive_failures: pause), then the loop tries again",
            )
        return _Halt(
            STOPPED,
            f"{reason}; stopped the run (loop.on_consecutive_failures: stop). Once the "
            f"provider answers, resume with: stratloop run --resume {self.rundir.run_id}",
        )

    def _pause(self, reason: str) -> None:
        """Wait ``loop.failure_pause_s`` (a stop request ends the wait), saying so in run.json."""
        self._write_run(PAUSED, reason)
        if self._progress is not None:
            self._progress.paused(reason)
        self._stop.wait(self.config.loop.failure_pause_s)
        self._provider_failures = 0
        self._write_run("running", f"resumed after a pause: {reason}")
        if self._progress is not None:
            self._progress.paused(None)

    def _validate(self, outcome: GenerationOutcome) -> tuple[str, str] | None:
        if outcome.candidate is None or self.parts.validate is None:
            return None
        try:
            self.parts.validate(outcome.candidate)
        except StratloopError as exc:
            return type(exc).__name__, str(exc)
        return None

    def _evaluate(self, pool: Executor, generated: list[Generated]) -> dict[int, EvalResult]:
        """Evaluate the batch; a signal the screen finds redundant is not backtested.

        What a screen rejects the ledger finds redundant at commit (it only
        grows); a rejection the ledger does not confirm is evaluated in full.
        """
        trials = self.state.trials
        tasks = [
            EvalTask(
                item.iteration_num,
                item.outcome.candidate.strategy,
                self._n_trials.pop(item.iteration_num),
                screen=trials.screen(item.outcome.candidate.strategy),
            )
            for item in generated
            if item.evaluable and item.outcome.candidate is not None
        ]
        results = {result.iteration: result for result in pool.evaluate(tasks)}
        unconfirmed = [
            replace(task, screen=None)
            for task in tasks
            if results[task.iteration].screened
            and trials.redundancy(task.strategy, results[task.iteration].fingerprint) is None
        ]
        if unconfirmed:
            results.update((result.iteration, result) for result in pool.evaluate(unconfirmed))
        return results

    def _record(self, item: Generated, result: EvalResult | None) -> IterationRecord:
        """The iteration's record; an evaluated signal that nearly duplicates one is redundant.

        One of this run's evaluated candidates is looked for first, then a
        factor of the persistent library.
        """
        candidate = item.outcome.candidate
        redundancy = None
        if result is not None and result.ok and candidate is not None:
            redundancy = self.state.trials.redundancy(candidate.strategy, result.fingerprint)
            if redundancy is None and self.parts.library is not None:
                redundancy = self.parts.library.redundancy(result.fingerprint)
        return self.state.objective(item.record(result, redundancy))

    def _save_champion(self) -> str:
        """Save the champion into the persistent library; what was done, for the run's message."""
        library, champion = self.parts.library, self.state.champion.as_dict()
        if library is None or champion is None:
            return ""
        saved = library.save(champion, self.rundir.run_id)
        if saved.added:
            return f"champion saved to the factor library as {saved.entry.name}"
        return f"champion already in the factor library as {saved.entry.name}"

    def _commit(
        self, history: HistoryWriter, record: IterationRecord, progress: ProgressSink | None
    ) -> None:
        record = self.state.commit(record)
        history.append(record)
        if record.champion and self.config.library.save == "champion":
            self._save_champion()
        self._committed += 1
        if record.audited and self.parts.audit is not None:
            self.parts.audit.write(record)
        if progress is not None:
            progress.committed(record, self.state.champion.score)

    def _record_flags(self, iteration: int, flags: Flags) -> None:
        current = flags.as_dict()
        if current == self._last_flags:
            return
        self._last_flags = current
        line = json.dumps(
            {"iteration_num": iteration, "timestamp": utc_now(), "flags": current}, sort_keys=True
        )
        try:
            with self.rundir.flags.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError as exc:
            raise storage_error(self.rundir.flags, exc, "append to") from exc

    def _write_batch_files(self) -> None:
        updates = self.state.champion.updates
        if updates != self._champion_written:
            champion = self.state.champion.as_dict()
            if champion is not None:
                atomic_write_json(self.rundir.champion, champion)
            self._champion_written = updates
        archives = self.state.archives
        written = tuple(archive.elites for archive in archives)
        if archives and written != self._archive_written:
            atomic_write_json(
                self.rundir.archive,
                archives_json(archives, iterations=self.state.next_iteration),
                durable=False,
            )
            self._archive_written = written
        atomic_write_json(self.rundir.metrics, self.metrics(), durable=False)
        self.state.islands.write(self.rundir.islands, self.state.next_iteration)

    def _write_run(self, status: str, message: str, *, verify: bool = True) -> None:
        """Rewrite ``run.json``; ``verify`` first checks this process still owns the run."""
        if verify:
            self._lock.verify()
        payload = self.rundir.read_json(self.rundir.run)
        payload.update(
            status=status,
            message=message,
            iterations=self._committed,
            total=self.config.loop.iterations,
            finished=None if status in {"running", PAUSED} else utc_now(),
            writer=self._lock.writer.as_json(),
        )
        atomic_write_json(self.rundir.run, payload)

    def _record_failure(self, exc: StratloopError) -> RunStorageError | None:
        """Mark the run stopped by ``exc``: resumable for a storage failure, else failed.

        On a full disk the reserved space is given back first, so that
        ``run.json`` can still be written.

        Returns:
            For a storage failure, the error to raise instead: ``exc``'s message
            with the resume command (and, if even ``run.json`` could not be
            written, that too).
        """
        resumable = isinstance(exc, RunStorageError) or is_out_of_space(exc)
        message = (
            f"{exc}; resume with: stratloop run --resume {self.rundir.run_id}"
            if resumable
            else str(exc)
        )
        if resumable:
            self.rundir.free_reserve()
        try:
            self._write_run(STOPPED if resumable else "failed", message)
        except StratloopError as also:
            message += f" (run.json could not record the stop either: {also})"
            if not resumable:
                exc.add_note(f"run.json could not record the failure either: {also}")
        if not resumable:
            return None
        return RunStorageError(message, disk_full=is_out_of_space(exc))


def run_metrics(state: LoopState, run_id: str, *, worker_restarts: int) -> dict[str, Any]:
    """What ``metrics.json`` holds: the counters over committed iterations, plus run facts."""
    snapshot = state.counters.snapshot()
    snapshot.update(
        run_id=run_id,
        champion_metric=state.champion.metric,
        champion_score=state.champion.score,
        worker_restarts=worker_restarts,
        budget_mode=state.budget_mode,
        distinct_trials=state.trials.distinct,
        **state.islands.metrics(),
    )
    if state.archives:
        snapshot.update(
            archive_filled=sum(archive.filled for archive in state.archives),
            archive_capacity=sum(archive.grid.capacity for archive in state.archives),
        )
    return snapshot


def _joined(message: str, addition: str) -> str:
    """``message`` and ``addition``, either of which may be empty."""
    return "; ".join(part for part in (message, addition) if part)


def _budget_reason(budget: TokenBudget) -> str:
    try:
        budget.check()
    except StratloopError as exc:
        return f"{exc}; stopped the run (llm.on_budget_exhausted: stop)"
    return "the LLM budget is spent"


def _usage_delta(before: Usage, after: Usage) -> Usage | None:
    if after.calls == before.calls and after.tokens == before.tokens:
        return None
    return Usage(
        prompt_tokens=after.prompt_tokens - before.prompt_tokens,
        completion_tokens=after.completion_tokens - before.completion_tokens,
        cost=after.cost - before.cost,
        calls=after.calls - before.calls,
    )


@contextmanager
def _sigint_stops(stop: Callable[[], None]) -> Iterator[None]:
    """First Ctrl-C asks for a stop after the batch; a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    count = 0

    def handler(_signum: int, _frame: FrameType | None) -> None:
        nonlocal count
        count += 1
        if count > 1:
            raise KeyboardInterrupt
        stop()

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
