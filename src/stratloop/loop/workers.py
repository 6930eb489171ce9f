"""Candidate evaluation in worker processes, with timeouts that really stop the work.

Each worker is a process, forked from a clean fork server that preloaded this
module and the backtest's (so a replacement starts in milliseconds); it builds its evaluator once
(loading the panel) and then evaluates one candidate at a time. The parent hands out tasks,
waits on the workers' pipes, and kills and replaces a worker whose task runs
past ``loop.eval_timeout_s``: the task is recorded as an
:class:`~stratloop.errors.EvaluationTimeoutError` and the pool goes on. Results
come back in task order, so they do not depend on the number of workers.
Workers ignore SIGINT: on Ctrl-C the parent finishes the batch in hand.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Literal, Protocol, Self, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt

from stratloop.config.models import StratloopConfig
from stratloop.errors import EvaluationTimeoutError, EvaluationWorkerError, RunError
from stratloop.factors.fingerprint import Screen
from stratloop.spec import Strategy

__all__ = [
    "EvalResult",
    "EvalTask",
    "EvaluationPool",
    "EvaluationPoolBase",
    "Evaluator",
    "EvaluatorFactory",
    "Fingerprinter",
    "run_task",
]

Evaluator: TypeAlias = Callable[[Strategy, int], Mapping[str, Any]]
"""``(strategy, n_trials) -> {"train", "validation", "folds", "fingerprint"}``.

``train`` and ``validation`` are metric mappings; ``folds`` (optional) one
mapping per validation fold; ``fingerprint`` (optional) the signal's
:class:`~stratloop.factors.fingerprint.FingerprintSample`, which lets the loop
find near-duplicate signals (an evaluator without one opts out). Raises on a
bad candidate. It never sees the holdout.
"""



@runtime_checkable
class Fingerprinter(Protocol):
    """An evaluator that can fingerprint a candidate's signal without backtesting it."""

    def fingerprint(self, strategy: Strategy) -> str | None:
        """The signal's fingerprint on the sampled train rows (None: it has none)."""
        ...


EvaluatorFactory: TypeAlias = Callable[[StratloopConfig], Evaluator]
"""Builds an evaluator inside a worker; must be a module-level function (it is pickled)."""

_State: TypeAlias = Literal["starting", "idle", "busy"]

_PRELOAD = (__name__, "stratloop.backtest", "stratloop.factors", "stratloop.loop.evaluation")
"""What the fork server imports once: without the evaluator's modules each new
worker spent about 0.3 s importing them (scipy among them) before its first task."""


@dataclass(frozen=True, slots=True)
class EvalTask:
    """One candidate to evaluate.

    Args:
        iteration: the candidate's iteration (used to match results).
        strategy: the spec to backtest.
        n_trials: distinct candidates evaluated in the run, this one included, for
            the deflated Sharpe (repeats and redundant candidates are not trials).
        screen: the evaluated fingerprints of its trading rule: a
            :class:`Fingerprinter` whose signal nearly duplicates one of them
            returns the fingerprint without backtesting (a ``screened`` result).
    """

    iteration: int
    strategy: Strategy
    n_trials: int
    screen: Screen | None = None


@dataclass(frozen=True, slots=True)
class EvalResult:
    """Metrics of one task (train block, validation, per fold), or the error that stopped it."""

    iteration: int
    train: Mapping[str, Any] | None
    validation: Mapping[str, Any] | None
    seconds: float
    error_type: str | None = None
    error_message: str | None = None
    folds: tuple[Mapping[str, Any], ...] = ()
    fingerprint: str | None = None
    screened: bool = False
    """The task's screen rejected the signal: a near-duplicate, not backtested (no metrics)."""

    @property
    def ok(self) -> bool:
        """True when metrics were produced."""
        return self.error_type is None

    @classmethod
    def failed(cls, task: EvalTask, seconds: float, error: BaseException) -> EvalResult:
        """The result of a task that ``error`` stopped after ``seconds``."""
        return cls(task.iteration, None, None, seconds, type(error).__name__, str(error))


def worker_died(task: EvalTask, how: str) -> EvaluationWorkerError:
    """The error recorded for a task whose worker died under it (``how``: what ended it)."""
    return EvaluationWorkerError(
        f"the evaluation worker died while evaluating iteration {task.iteration} ({how}). "
        "If this repeats, look for memory: lower loop.workers or loop.eval_cache_mb"
    )


def timed_out(task: EvalTask, timeout_s: float, replaced: str) -> EvaluationTimeoutError:
    """The error recorded for a task past the timeout (``replaced``: what was killed)."""
    return EvaluationTimeoutError(
        f"evaluation of iteration {task.iteration} ran past loop.eval_timeout_s="
        f"{timeout_s:g} s; its {replaced} was killed and replaced"
    )


@dataclass(frozen=True, slots=True)
class _ScreenRows:
    """A task's screen as a local worker receives it: the rows of the rule it lacks.

    A screen of a rule with a thousand stored fingerprints is ~5 MB; sent whole
    with every task it cost ~22 ms of pickling per task and slowed long runs
    several-fold. Each worker keeps the rows it was sent, per rule, and gets the new ones.
    """

    rule: str
    threshold: float
    first: int
    rows: npt.NDArray[np.float32]

    def screen(self, held: dict[str, npt.NDArray[np.float32]]) -> Screen:
        """The whole screen, from the rows ``held`` for the rule plus these (``held`` updated).

        Raises:
            EvaluationWorkerError: the worker holds a different number of rows than
                the pool sent it (a bug: the screen would be wrong, so the worker stops).
        """
        known = held.get(self.rule, self.rows[:0])[: self.first]
        if len(known) != self.first:
            raise EvaluationWorkerError(
                f"worker holds {len(known)} fingerprints of rule {self.rule!r} but the pool "
                f"sent it {self.first}; the near-duplicate screen would be wrong"
            )
        if len(self.rows):
            known = held[self.rule] = np.concatenate([known, self.rows])
        return Screen(self.threshold, known, self.rule)


@dataclass(slots=True)
class _Worker:
    process: BaseProcess
    conn: Connection
    state: _State = "starting"
    since: float = field(default_factory=time.monotonic)
    index: int = -1
    task: EvalTask | None = None
    screen_rows: dict[str, int] = field(default_factory=dict)
    """Per rule, how many screen rows this worker was sent."""

    def wire(self, task: EvalTask) -> EvalTask | tuple[EvalTask, _ScreenRows]:
        """``task`` as this worker receives it: its screen reduced to the rows it lacks."""
        screen = task.screen
        if screen is None:
            return task
        sent = self.screen_rows.get(screen.rule, 0)
        if sent > len(screen.vectors):
            sent = 0  # not the rows this worker holds (a bank rebuilt): send them all again
        self.screen_rows[screen.rule] = len(screen.vectors)
        rows = _ScreenRows(screen.rule, screen.threshold, sent, screen.vectors[sent:])
        return replace(task, screen=None), rows


def run_task(evaluator: Evaluator, task: EvalTask) -> EvalResult:
    """Evaluate one task; an error raised by the candidate is its result, never the worker's end.

    The one place a worker turns an evaluator call into a result, whichever
    executor runs it (a local process or a Ray actor).
    """
    start = time.perf_counter()
    try:
        if task.screen is not None and isinstance(evaluator, Fingerprinter):
            fingerprint = evaluator.fingerprint(task.strategy)
            if fingerprint is not None and task.screen.rejects(fingerprint):
                seconds = time.perf_counter() - start
                return EvalResult(
                    task.iteration, None, None, seconds, fingerprint=fingerprint, screened=True
                )
        result = evaluator(task.strategy, task.n_trials)
        train, validation = dict(result["train"]), dict(result["validation"])
        folds = tuple(dict(fold) for fold in result.get("folds", ()))
    except Exception as exc:  # noqa: BLE001 - every failure is recorded for its iteration
        return EvalResult.failed(task, time.perf_counter() - start, exc)
    seconds = time.perf_counter() - start
    return EvalResult(
        task.iteration,
        train,
        validation,
        seconds,
        folds=folds,
        fingerprint=result.get("fingerprint"),
    )


def _worker_main(conn: Connection, factory: EvaluatorFactory, config: StratloopConfig) -> None:
    """Body of a worker process: build the evaluator once, then serve tasks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        evaluator = factory(config)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which stops the run
        conn.send(("init_error", type(exc).__name__, str(exc)))
        return
    conn.send(("ready",))
    held: dict[str, npt.NDArray[np.float32]] = {}
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return  # the parent is gone (killed): nothing left to serve
        if message is None:
            return
        if isinstance(message, tuple):
            bare, rows = message
            message = replace(bare, screen=rows.screen(held))
        conn.send(("done", run_task(evaluator, message)))


class EvaluationPoolBase(ABC):
    """What every executor's pool shares: its settings, a context manager, a restart count.

    Args:
        factory: builds the evaluator in each worker (module-level function).
        config: the run's configuration, passed to ``factory``.
        workers: number of workers.
        timeout_s: per-task evaluation timeout.
        start_timeout_s: how long a worker may take to build its evaluator.
    """

    def __init__(
        self,
        factory: EvaluatorFactory,
        config: StratloopConfig,
        *,
        workers: int,
        timeout_s: float,
        start_timeout_s: float = 300.0,
    ) -> None:
        if workers < 1:
            raise RunError(f"loop.workers must be at least 1 but got {workers}")
        self._factory = factory
        self._config = config
        self._size = workers
        self._timeout = timeout_s
        self._start_timeout = start_timeout_s
        self.restarts = 0
        """Workers killed and replaced after a timeout, or tasks whose worker died."""
        self._setup()

    @abstractmethod
    def _setup(self) -> None:
        """Set up the executor's own state (no worker starts yet)."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def start(self) -> None:
        """Start the workers."""

    @abstractmethod
    def close(self) -> None:
        """Stop the workers."""


class EvaluationPool(EvaluationPoolBase):
    """A fixed number of evaluation processes with per-task timeouts (see the base's args)."""

    def _setup(self) -> None:
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(list(_PRELOAD))
        self._workers: list[_Worker] = []

    def start(self) -> None:
        """Start the workers (they build their evaluators in parallel)."""
        while len(self._workers) < self._size:
            self._workers.append(self._spawn())

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_worker_main,
            args=(child, self._factory, self._config),
            name="stratloop-eval",
            daemon=True,
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def evaluate(self, tasks: Sequence[EvalTask]) -> list[EvalResult]:
        """Evaluate ``tasks``; returns one result per task, in task order. Never hangs."""
        if not self._workers:
            self.start()
        pending = deque(enumerate(tasks))
        results: list[EvalResult | None] = [None] * len(tasks)
        while pending or any(w.state == "busy" for w in self._workers):
            for worker in self._workers:
                if worker.state == "idle" and pending:
                    self._send(worker, *pending.popleft())
            self._collect(results)
            self._expire(results)
        return [result for result in results if result is not None]

    def _send(self, worker: _Worker, index: int, task: EvalTask) -> None:
        worker.conn.send(worker.wire(task))
        worker.state, worker.index, worker.task, worker.since = (
            "busy",
            index,
            task,
            time.monotonic(),
        )

    def _deadline(self, worker: _Worker) -> float:
        limit = self._timeout if worker.state == "busy" else self._start_timeout
        return worker.since + limit

    def _collect(self, results: list[EvalResult | None]) -> None:
        waiting = [w for w in self._workers if w.state != "idle"]
        timeout = max(0.0, min(self._deadline(w) for w in waiting) - time.monotonic())
        ready = wait([w.conn for w in waiting], timeout)
        for worker in waiting:
            if worker.conn in ready:
                self._receive(worker, results)

    def _receive(self, worker: _Worker, results: list[EvalResult | None]) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            self._crashed(worker, results)
            return
        kind = message[0]
        if kind == "ready":
            worker.state = "idle"
        elif kind == "init_error":
            self.close()
            raise RunError(
                f"an evaluation worker could not load the data and evaluator: "
                f"{message[1]}: {message[2]}"
            )
        else:
            results[worker.index] = message[1]
            worker.state, worker.task = "idle", None

    def _expire(self, results: list[EvalResult | None]) -> None:
        now = time.monotonic()
        for position, worker in enumerate(self._workers):
            if worker.state == "idle" or now < self._deadline(worker):
                continue
            if worker.state == "starting":
                self.close()
                raise RunError(
                    f"an evaluation worker did not start within {self._start_timeout:g} s"
                )
            task = worker.task
            assert task is not None
            error = timed_out(task, self._timeout, "worker process")
            results[worker.index] = EvalResult.failed(task, now - worker.since, error)
            self._replace(position)

    def _crashed(self, worker: _Worker, results: list[EvalResult | None]) -> None:
        position = self._workers.index(worker)
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        if worker.state != "busy" or worker.task is None:
            self.close()
            raise RunError(f"an evaluation worker exited while starting (exit code {code})")
        task = worker.task
        error = worker_died(task, f"{_exit_cause(code)}; it was replaced")
        results[worker.index] = EvalResult.failed(task, time.monotonic() - worker.since, error)
        self._replace(position)

    def _replace(self, position: int) -> None:
        old = self._workers[position]
        _stop(old, kill=True)
        self._workers[position] = self._spawn()
        self.restarts += 1

    def close(self) -> None:
        """Stop every worker: idle ones are asked to exit, busy or starting ones are killed."""
        for worker in self._workers:
            _stop(worker, kill=worker.state != "idle")
        self._workers = []


def _exit_cause(code: int | None) -> str:
    """How a worker process ended: its exit code, or the signal that killed it."""
    if code is None:
        return "it did not report an exit code"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = ", as the out-of-memory killer does" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"


def _stop(worker: _Worker, *, kill: bool) -> None:
    if not kill:
        try:
            worker.conn.send(None)
        except OSError:
            kill = True
        else:
            worker.process.join(timeout=5)
    if kill or worker.process.is_alive():
        worker.process.kill()
        worker.process.join(timeout=5)
    worker.conn.close()
