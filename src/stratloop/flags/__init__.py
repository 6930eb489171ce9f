"""Feature flags: the master kill switch and one flag per phase, with their sources."""

from stratloop.flags.model import (
    FLAG_VARIABLES,
    MASTER,
    PHASE1,
    PHASE2,
    PHASE3,
    PHASE4,
    ROLLOUT_SUFFIX,
    Flags,
    Rollout,
)
from stratloop.flags.parse import parse_flag, parse_percent
from stratloop.flags.rollout import INSTANCE_ID_VARIABLE, bucket, in_rollout, instance_id
from stratloop.flags.sources import (
    DotenvFlagSource,
    EnvFlagSource,
    FlagSource,
    OpenFeatureFlagSource,
    flagd_file_source,
    open_flag_source,
)

__all__ = [
    "FLAG_VARIABLES",
    "INSTANCE_ID_VARIABLE",
    "MASTER",
    "PHASE1",
    "PHASE2",
    "PHASE3",
    "PHASE4",
    "ROLLOUT_SUFFIX",
    "DotenvFlagSource",
    "EnvFlagSource",
    "FlagSource",
    "Flags",
    "OpenFeatureFlagSource",
    "Rollout",
    "bucket",
    "flagd_file_source",
    "in_rollout",
    "instance_id",
    "open_flag_source",
    "parse_flag",
    "parse_percent",
]
