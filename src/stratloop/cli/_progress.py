"""Progress of ``stratloop run`` when stderr is not a terminal: one plain line every N seconds.

A bar redrawn in place is unreadable in a log file or a CI job (it arrives as
one cut-off line at the end); a long run started by a scheduler logs instead
``iterations 1200/50000 (2.4%), 3.1 it/s, best sharpe 1.234, ETA 4h22m``
once per interval, and once more when the run stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console

from stratloop.iteration import IterationRecord

__all__ = ["LineProgress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``3725`` -> ``1h02m``; ``75`` -> ``1m15s``; ``9`` -> ``9s``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class LineProgress:
    """A progress sink (begin / committed / end) printing one line per ``interval_s``.

    Args:
        console: where to print (stderr).
        metric: the champion metric's name.
        interval_s: seconds between lines.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        console: Console,
        metric: str,
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._console = console
        self._metric = metric
        self._interval = interval_s
        self._clock = clock
        self._total = 0
        self._done = 0
        self._start_done = 0
        self._started = 0.0
        self._last = 0.0
        self._best: float | None = None

    def begin(self, total: int, done: int) -> None:
        """Remember where the run starts."""
        self._total, self._done, self._start_done = total, done, done
        self._started = self._last = self._clock()

    def committed(self, record: IterationRecord, best: float | None) -> None:
        """Count one iteration; print a line when the interval has passed."""
        del record
        self._done += 1
        self._best = best
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            self._line(now)

    def end(self) -> None:
        """Print the last line."""
        self._line(self._clock())

    def line(self) -> str:
        """The progress line as of now."""
        return self._text(self._clock())

    def _text(self, now: float) -> str:
        elapsed = now - self._started
        made = self._done - self._start_done
        rate = made / elapsed if elapsed > 0 else 0.0
        share = f" ({self._done / self._total:.1%})" if self._total else ""
        best = "-" if self._best is None else f"{self._best:.3f}"
        eta = ""
        if rate > 0 and self._total > self._done:
            eta = f", ETA {format_duration((self._total - self._done) / rate)}"
        return (
            f"iterations {self._done}/{self._total}{share}, {rate:.1f} it/s, "
            f"best {self._metric} {best}{eta}"
        )

    def _line(self, now: float) -> None:
        self._console.print(self._text(now), markup=False, highlight=False, soft_wrap=True)
