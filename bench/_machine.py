"""The machine a benchmark ran on, recorded beside its numbers, and the timing loop."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe(**extra: Any) -> dict[str, Any]:
    """Cores, CPU, Python, numpy, platform and the load now, plus ``extra``."""
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "load_average_now": [round(x, 2) for x in os.getloadavg()],
        **extra,
    }


def timed(func: Callable[[], object], repeats: int) -> dict[str, float]:
    """Median and best wall time of ``func`` in ms over ``repeats`` calls, after one warm-up."""
    func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(times), "best_ms": min(times), "runs": repeats}
