"""Configuration: one YAML file, environment overrides and CLI options, strictly validated."""

from stratloop.config.conflicts import check_conflicts, find_conflicts, llm_required
from stratloop.config.defaults import default_config, default_document
from stratloop.config.dict_validator import validate_dict
from stratloop.config.legacy import StratloopDeprecationWarning, convert_legacy, is_legacy
from stratloop.config.loader import load_config, read_document, validate_config
from stratloop.config.models import (
    AuditConfig,
    BacktestConfig,
    DataConfig,
    GenerationConfig,
    LLMConfig,
    LoopConfig,
    StratloopConfig,
)
from stratloop.config.overrides import ENV_PREFIX, Layer, env_layer, parse_assignment
from stratloop.config.snapshot import REDACTED, config_hash, redact_url, resolve_api_key, snapshot

__all__ = [
    "ENV_PREFIX",
    "REDACTED",
    "AuditConfig",
    "BacktestConfig",
    "DataConfig",
    "GenerationConfig",
    "LLMConfig",
    "Layer",
    "LoopConfig",
    "StratloopConfig",
    "StratloopDeprecationWarning",
    "check_conflicts",
    "config_hash",
    "convert_legacy",
    "default_config",
    "default_document",
    "env_layer",
    "find_conflicts",
    "is_legacy",
    "llm_required",
    "load_config",
    "parse_assignment",
    "read_document",
    "redact_url",
    "resolve_api_key",
    "snapshot",
    "validate_config",
    "validate_dict",
]
