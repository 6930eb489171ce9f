"""The learning loop: batches of decide, generate, validate, backtest and commit.

See ``docs/loop.md`` for the run directory, the history record and resume.
"""

from stratloop.loop.assemble import build_parts
from stratloop.loop.audit import RunAudit
from stratloop.loop.champion import TRADES_METRIC, ChampionTracker, Eligibility
from stratloop.loop.counters import LoopCounters
from stratloop.loop.evaluation import backtest_evaluator, evaluation_cache, load_run_panel
from stratloop.loop.history import (
    HistoryRead,
    HistoryWriter,
    TornLine,
    cut_torn_tail,
    iter_history,
    read_history,
)
from stratloop.loop.inspect import RunInfo, describe_run
from stratloop.loop.progress import RichProgress
from stratloop.loop.record import Generated
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
    "RichProgress",
    "RunAudit",
    "RunDir",
    "RunInfo",
    "RunSummary",
    "TornLine",
    "atomic_write_json",
    "backtest_evaluator",
    "build_parts",
    "cut_torn_tail",
    "describe_run",
    "evaluation_cache",
    "iter_history",
    "list_run_ids",
    "load_run_panel",
    "new_run_id",
    "open_run",
    "read_history",
    "utc_now",
]
