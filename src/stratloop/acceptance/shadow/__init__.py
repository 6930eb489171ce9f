"""Shadow mode: two flag states of the one generation path, side by side.

The control runs with Phase 3 off (the procedural path), the candidate with
it on (the strategy pattern), with the same seed on the same iterations (a
log records its basis: data, configuration, seed schedule, so logs that
cannot match are refused with the difference named);
results are frozen, mismatches are kept apart from ignored differences, an LLM
question both sides ask is sent once, and internal failures go to one
``raised(operation, error)`` hook. A champion chosen explicitly
(:func:`choose_champion`) makes factor-graph iterations on both sides mutate
it, as the real loop does, instead of sampling fresh factors.
"""

from stratloop.acceptance.shadow.basis import basis_differences, log_basis
from stratloop.acceptance.shadow.champion import (
    CHAMPION_SOURCES,
    choose_champion,
    latest_run_champion,
    reference_champion,
)
from stratloop.acceptance.shadow.compare import Comparison, compare_records
from stratloop.acceptance.shadow.experiment import CANDIDATE_FLAGS, CONTROL_FLAGS, ShadowExperiment
from stratloop.acceptance.shadow.log import compare_logs, read_log, write_log
from stratloop.acceptance.shadow.record import ShadowRecord
from stratloop.acceptance.shadow.session import (
    ROLLOUT_FLAG,
    ShadowSession,
    daily_seed,
    rollout_iterations,
    run_session,
)
from stratloop.acceptance.shadow.shared import SharedProposals

__all__ = [
    "CANDIDATE_FLAGS",
    "CHAMPION_SOURCES",
    "CONTROL_FLAGS",
    "ROLLOUT_FLAG",
    "Comparison",
    "ShadowExperiment",
    "ShadowRecord",
    "ShadowSession",
    "SharedProposals",
    "basis_differences",
    "choose_champion",
    "compare_logs",
    "compare_records",
    "daily_seed",
    "latest_run_champion",
    "log_basis",
    "read_log",
    "reference_champion",
    "rollout_iterations",
    "run_session",
    "write_log",
]
