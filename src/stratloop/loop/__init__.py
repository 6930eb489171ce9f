"""The learning loop: batches of decide, generate, validate, backtest and commit.

See ``docs/loop.md`` for the run directory, the history record and resume.
"""

from stratloop.loop.champion import TRADES_METRIC, ChampionTracker, Eligibility
from stratloop.loop.counters import LoopCounters
from stratloop.loop.history import (
    HistoryRead,
    HistoryWriter,
    TornLine,
    comparable,
    cut_torn_tail,
    dumps_record,
    read_history,
)
from stratloop.loop.record import Generated, Status, build_record
from stratloop.loop.rundir import RunDir, atomic_write_json, list_run_ids, new_run_id, utc_now
from stratloop.loop.runner import (
    AuditSink,
    LoopParts,
    LoopRunner,
    ProgressSink,
    RunSummary,
    open_run,
)
from stratloop.loop.state import FEEDBACK_SIZE, LoopState
from stratloop.loop.workers import (
    EvalResult,
    EvalTask,
    EvaluationPool,
    Evaluator,
    EvaluatorFactory,
)

__all__ = [
    "FEEDBACK_SIZE",
    "TRADES_METRIC",
    "AuditSink",
    "ChampionTracker",
    "Eligibility",
    "EvalResult",
    "EvalTask",
    "EvaluationPool",
    "Evaluator",
    "EvaluatorFactory",
    "Generated",
    "HistoryRead",
    "HistoryWriter",
    "LoopCounters",
    "LoopParts",
    "LoopRunner",
    "LoopState",
    "ProgressSink",
    "RunDir",
    "RunSummary",
    "Status",
    "TornLine",
    "atomic_write_json",
    "build_record",
    "comparable",
    "cut_torn_tail",
    "dumps_record",
    "list_run_ids",
    "new_run_id",
    "open_run",
    "read_history",
    "utc_now",
]
