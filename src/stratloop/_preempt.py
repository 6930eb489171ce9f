"""Whether the calling thread was preempted: the cost of a code path, without other processes'.

A wall-clock timing of a short code path (an audit write: build, hash,
serialise, ``write``, fsync under ``always``) on a shared host also holds the
time the scheduler gave the core to other processes. Those intervals show up as
involuntary context switches of the thread (``ru_nivcsw`` of
``getrusage(RUSAGE_THREAD)``); waiting on the disk is a *voluntary* switch and
stays in. A timing taken with no involuntary switch is the path's own cost.
"""

from __future__ import annotations

import resource

__all__ = ["involuntary_switches"]

_THREAD = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)
"""Linux counts per thread; elsewhere the process's count is the (stricter) stand-in."""


def involuntary_switches() -> int:
    """The calling thread's involuntary context switches so far (compare two readings)."""
    return resource.getrusage(_THREAD).ru_nivcsw
