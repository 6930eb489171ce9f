"""Feature flags: the master kill switch and one flag per phase, with their sources."""

from stratloop.flags.model import FLAG_VARIABLES, Flags
from stratloop.flags.rollout import bucket, in_rollout, instance_id
from stratloop.flags.sources import (
    DotenvFlagSource,
    EnvFlagSource,
    FlagdFileSource,
    FlagSource,
    OpenFeatureFlagSource,
    flagd_file_source,
    flags_file_format,
    open_flag_source,
)

__all__ = [
    "FLAG_VARIABLES",
    "DotenvFlagSource",
    "EnvFlagSource",
    "FlagSource",
    "FlagdFileSource",
    "Flags",
    "OpenFeatureFlagSource",
    "bucket",
    "flagd_file_source",
    "flags_file_format",
    "in_rollout",
    "instance_id",
    "open_flag_source",
]
