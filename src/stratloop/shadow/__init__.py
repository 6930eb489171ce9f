"""Shadow mode: two flag states of the one generation path, side by side.

The control runs with Phase 3 off (the procedural path), the candidate with
it on (the strategy pattern), with the same seed on the same iterations;
results are frozen, mismatches are kept apart from ignored differences, an LLM
question both sides ask is sent once, and internal failures go to one
``raised(operation, error)`` hook. A champion chosen explicitly
(:func:`choose_champion`) makes factor-graph iterations on both sides mutate
it, as the real loop does, instead of sampling fresh factors.
"""

from stratloop.shadow.champion import (
    CHAMPION_SOURCES,
    ChampionSource,
    ShadowChampion,
    choose_champion,
    latest_run_champion,
    reference_champion,
)
from stratloop.shadow.compare import Comparison, Mismatch, compare_records
from stratloop.shadow.experiment import (
    CANDIDATE_FLAGS,
    CONTROL_FLAGS,
    Behaviour,
    InternalError,
    Observation,
    Result,
    ShadowExperiment,
)
from stratloop.shadow.log import SCHEMA_VERSION, compare_logs, read_log, write_log
from stratloop.shadow.record import COMPARED_FIELDS, IGNORED_FIELDS, ShadowRecord
from stratloop.shadow.session import (
    ROLLOUT_FLAG,
    ShadowSession,
    StopReason,
    daily_seed,
    rollout_iterations,
    run_session,
)
from stratloop.shadow.shared import SharedProposals

__all__ = [
    "CANDIDATE_FLAGS",
    "CHAMPION_SOURCES",
    "COMPARED_FIELDS",
    "CONTROL_FLAGS",
    "IGNORED_FIELDS",
    "ROLLOUT_FLAG",
    "SCHEMA_VERSION",
    "Behaviour",
    "ChampionSource",
    "Comparison",
    "InternalError",
    "Mismatch",
    "Observation",
    "Result",
    "ShadowChampion",
    "ShadowExperiment",
    "ShadowRecord",
    "ShadowSession",
    "SharedProposals",
    "StopReason",
    "choose_champion",
    "compare_logs",
    "compare_records",
    "daily_seed",
    "latest_run_champion",
    "read_log",
    "reference_champion",
    "rollout_iterations",
    "run_session",
    "write_log",
]
