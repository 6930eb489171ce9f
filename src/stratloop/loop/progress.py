"""The rich progress bar of ``stratloop run``: iteration, method, best metric, rate, ETA."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from stratloop.iteration import IterationRecord

__all__ = ["RichProgress"]


class RichProgress:
    """A :class:`~stratloop.loop.runner.ProgressSink` drawing one rich progress bar.

    Args:
        console: where to draw (stderr, so stdout keeps the results).
        metric: the champion metric's name, for the label.
    """

    def __init__(self, console: Console, metric: str) -> None:
        self._metric = metric
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[method]:>12}"),
            TextColumn("best {task.fields[metric]} {task.fields[best]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def begin(self, total: int, done: int) -> None:
        """Show the bar with ``done`` of ``total`` iterations committed."""
        self._progress.start()
        self._task = self._progress.add_task(
            "iterations",
            total=total,
            completed=done,
            method="",
            metric=self._metric,
            best="-",
            rate="",
        )

    def committed(self, record: IterationRecord, best: float | None) -> None:
        """Advance by one committed iteration."""
        if self._task is None:
            return
        task = self._progress.tasks[0]
        speed = task.speed
        self._progress.update(
            self._task,
            advance=1,
            method=record.outcome.method_used or record.status,
            best="-" if best is None else f"{best:.3f}",
            rate="" if speed is None else f"{speed:.1f} it/s",
        )

    def end(self) -> None:
        """Stop drawing."""
        self._progress.stop()

    def paused(self, reason: str | None) -> None:
        """Say that the loop paused, and why, or that it continued."""
        text = "the loop continues" if reason is None else f"{reason}; fix it to continue"
        self._progress.console.print(text, style="yellow", markup=False, highlight=False)
