"""The learning loop: batches of decide, generate, validate, backtest and commit.

See ``docs/loop.md`` for the run directory, the history record and resume.
"""

from stratloop.loop.assemble import build_parts
from stratloop.loop.audit import RunAudit
from stratloop.loop.champion import ChampionTracker
from stratloop.loop.counters import LoopCounters
from stratloop.loop.history import iter_history, read_history
from stratloop.loop.inspect import RunInfo, describe_run
from stratloop.loop.progress import RichProgress
from stratloop.loop.record import Generated
from stratloop.loop.rundir import RunDir, atomic_write_json, list_run_ids, new_run_id, utc_now
from stratloop.loop.runner import AuditSink, LoopParts, LoopRunner, RunSummary, open_run
from stratloop.loop.workers import EvalResult

__all__ = [
    "AuditSink",
    "ChampionTracker",
    "EvalResult",
    "Generated",
    "LoopCounters",
    "LoopParts",
    "LoopRunner",
    "RichProgress",
    "RunAudit",
    "RunDir",
    "RunInfo",
    "RunSummary",
    "atomic_write_json",
    "build_parts",
    "describe_run",
    "iter_history",
    "list_run_ids",
    "new_run_id",
    "open_run",
    "read_history",
    "utc_now",
]
