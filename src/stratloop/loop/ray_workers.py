"""Candidate evaluation as calls on Ray actors: same results, same order as local workers.

Each of ``loop.workers`` actors builds its evaluator once (loading the panel;
with a panel store every actor on a node maps the same pages, so a node holds
one copy) and then evaluates one candidate per call. The driver keeps what
the local pool guarantees: results in task order (so the history does not
depend on the executor or the number of workers), a per-task timeout that
kills and replaces the actor, and one writer of the history and audit trail
(the driver; actors only return results).

An actor that dies mid-task (a node lost, the out-of-memory killer) is
restarted by Ray and the call retried, up to :data:`TASK_RETRIES` times; a task
whose worker keeps dying is recorded as an
:class:`~stratloop.errors.EvaluationWorkerError`, as locally.
"""

from __future__ import annotations

import importlib
import re
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from stratloop.config.models import StratloopConfig
from stratloop.errors import RunError
from stratloop.loop.workers import (
    EvalResult,
    EvalTask,
    EvaluationPoolBase,
    Evaluator,
    EvaluatorFactory,
    run_task,
    timed_out,
    worker_died,
)

__all__ = ["TASK_RETRIES", "RayEvaluationPool"]

TASK_RETRIES = 2
"""Times a call is retried on a restarted actor after its worker process died."""


class _EvaluationActor:
    """Runs inside a Ray worker: one evaluator, built once."""

    def __init__(self, factory: EvaluatorFactory, config: StratloopConfig) -> None:
        self._evaluator: Evaluator = factory(config)

    def ready(self) -> bool:
        return True

    def evaluate(self, task: EvalTask) -> EvalResult:
        return run_task(self._evaluator, task)


def _ray() -> Any:
    """The ``ray`` module (an optional extra), or an error that says how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise RunError(
            "loop.executor is 'ray' but Ray is not installed; install it with "
            "`pip install 'stratloop[ray]'`, or set loop.executor: local"
        ) from exc


class RayEvaluationPool(EvaluationPoolBase):
    """``loop.workers`` Ray actors with per-task timeouts; the interface of the local pool.

    The Ray cluster to join is ``config.loop.ray_address``; None starts (and
    later stops) a local one. The arguments are the local pool's.
    """

    def _setup(self) -> None:
        self._address = self._config.loop.ray_address
        self._ray: Any = None
        self._started_ray = False
        self._actor_class: Any = None
        self._actors: list[Any] = []

    def start(self) -> None:
        """Join or start Ray, then start the actors and wait until each has its evaluator."""
        ray = self._ray = _ray()
        if not ray.is_initialized():
            ray.init(
                address=self._address,
                num_cpus=self._size if self._address is None else None,
                include_dashboard=False,
                log_to_driver=False,
            )
            self._started_ray = True
        self._actor_class = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=TASK_RETRIES)(
            _EvaluationActor
        )
        self._actors = [self._new_actor() for _ in range(self._size)]
        self._await_ready(self._actors)

    def _await_ready(self, actors: list[Any]) -> None:
        """Wait until ``actors`` have built their evaluators (a task's clock starts after that)."""
        ray = self._ray
        try:
            ray.get([actor.ready.remote() for actor in actors], timeout=self._start_timeout)
        except ray.exceptions.GetTimeoutError as exc:
            self.close()
            raise RunError(
                f"the Ray evaluation actors did not start within {self._start_timeout:g} s"
            ) from exc
        except ray.exceptions.RayError as exc:
            self.close()
            raise RunError(
                f"an evaluation worker could not load the data and evaluator: {_cause(exc)}"
            ) from exc

    def _new_actor(self) -> Any:
        return self._actor_class.remote(self._factory, self._config)

    def evaluate(self, tasks: Sequence[EvalTask]) -> list[EvalResult]:
        """Evaluate ``tasks``; returns one result per task, in task order. Never hangs."""
        if not self._actors:
            self.start()
        ray = self._ray
        pending = deque(enumerate(tasks))
        results: list[EvalResult | None] = [None] * len(tasks)
        idle = list(range(len(self._actors)))
        running: dict[Any, tuple[int, int, float]] = {}
        while pending or running:
            while idle and pending:
                position = idle.pop()
                index, task = pending.popleft()
                ref = self._actors[position].evaluate.remote(task)
                running[ref] = (index, position, time.monotonic())
            deadline = min(started for _, _, started in running.values()) + self._timeout
            ready, _ = ray.wait(
                list(running), num_returns=1, timeout=max(0.0, deadline - time.monotonic())
            )
            for ref in ready:
                index, position, started = running.pop(ref)
                results[index] = self._result(ref, tasks[index], started)
                idle.append(position)
            for ref, (index, position, started) in list(running.items()):
                if time.monotonic() - started >= self._timeout:
                    del running[ref]
                    results[index] = self._timed_out(position, tasks[index], started)
                    idle.append(position)
        return [result for result in results if result is not None]

    def _result(self, ref: Any, task: EvalTask, started: float) -> EvalResult:
        try:
            result: EvalResult = self._ray.get(ref)
        except self._ray.exceptions.RayActorError as exc:
            self.restarts += 1
            error = worker_died(task, f"{TASK_RETRIES + 1} times; {_cause(exc)}")
            return EvalResult.failed(task, time.monotonic() - started, error)
        return result

    def _timed_out(self, position: int, task: EvalTask, started: float) -> EvalResult:
        self._ray.kill(self._actors[position], no_restart=True)
        self._actors[position] = self._new_actor()
        self._await_ready([self._actors[position]])
        self.restarts += 1
        error = timed_out(task, self._timeout, "Ray actor")
        return EvalResult.failed(task, time.monotonic() - started, error)

    def close(self) -> None:
        """Kill the actors, and stop Ray if this pool started it."""
        if self._ray is None:
            return
        for actor in self._actors:
            self._ray.kill(actor, no_restart=True)
        self._actors = []
        if self._started_ray:
            self._ray.shutdown()
            self._started_ray = False


_RAISED = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception): .*)$")
"""A traceback's last line, ``package.module.SomeError: message``."""


def _cause(exc: BaseException) -> str:
    """The original exception a Ray error wraps (``SomeError: message``), else its first line."""
    lines = str(exc).strip().splitlines()
    raised = [m.group(1) for line in lines if (m := _RAISED.match(line))]
    if raised:
        return raised[-1]
    return lines[0] if lines else type(exc).__name__
