"""The learning loop: batches of decide, generate, validate, backtest and commit.

See ``docs/loop.md`` for the run directory, the history record and resume.
"""

from stratloop.loop.assemble import build_parts
from stratloop.loop.audit import RunAudit
from stratloop.loop.champion import (
    TRADES_METRIC,
    ChampionTracker,
    Eligibility,
    candidate_from_record,
)
from stratloop.loop.counters import LoopCounters
from stratloop.loop.evaluation import backtest_evaluator, evaluation_cache, load_run_panel
from stratloop.loop.history import (
    HistoryRead,
    HistoryWriter,
    TornLine,
    comparable,
    cut_torn_tail,
    dumps_record,
    iter_history,
    read_history,
)
from stratloop.loop.inspect import RunInfo, describe_run
from stratloop.loop.progress import RichProgress
from stratloop.loop.record import Generated, Status, build_record, jsonable, outcome_from_record
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
    "Status",
    "TornLine",
    "atomic_write_json",
    "backtest_evaluator",
    "build_parts",
    "build_record",
    "candidate_from_record",
    "comparable",
    "cut_torn_tail",
    "describe_run",
    "dumps_record",
    "evaluation_cache",
    "iter_history",
    "jsonable",
    "list_run_ids",
    "load_run_panel",
    "new_run_id",
    "open_run",
    "outcome_from_record",
    "read_history",
    "utc_now",
]
