"""Where candidates are evaluated, from ``loop.executor``: local processes or Ray actors."""

from __future__ import annotations

from typing import Protocol, Self

from stratloop.config.models import StratloopConfig
from stratloop.loop.ray_workers import RayEvaluationPool
from stratloop.loop.workers import EvalResult, EvalTask, EvaluationPool, EvaluatorFactory

__all__ = ["Executor", "open_executor"]


class Executor(Protocol):
    """A pool that evaluates tasks and returns one result per task, in task order."""

    restarts: int

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def evaluate(self, tasks: list[EvalTask]) -> list[EvalResult]:
        """One result per task, in task order; never hangs."""
        ...


def open_executor(factory: EvaluatorFactory, config: StratloopConfig) -> Executor:
    """The pool ``config.loop`` names, sized by ``loop.workers``, not started yet."""
    loop = config.loop
    if loop.executor == "ray":
        return RayEvaluationPool(
            factory, config, workers=loop.workers, timeout_s=loop.eval_timeout_s
        )
    return EvaluationPool(factory, config, workers=loop.workers, timeout_s=loop.eval_timeout_s)
