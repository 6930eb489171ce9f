"""Configuration: one YAML file, environment overrides and CLI options, strictly validated."""

from stratloop.config.conflicts import llm_required
from stratloop.config.defaults import default_config
from stratloop.config.dict_validator import validate_dict
from stratloop.config.legacy import StratloopDeprecationWarning
from stratloop.config.loader import load_config, read_document, validate_config
from stratloop.config.models import (
    AuditConfig,
    BacktestConfig,
    DataConfig,
    GenerationConfig,
    LLMConfig,
    LoopConfig,
    SearchConfig,
    StratloopConfig,
)
from stratloop.config.overrides import Layer, parse_assignment
from stratloop.config.snapshot import REDACTED, config_hash, resolve_api_key, snapshot

__all__ = [
    "REDACTED",
    "AuditConfig",
    "BacktestConfig",
    "DataConfig",
    "GenerationConfig",
    "LLMConfig",
    "Layer",
    "LoopConfig",
    "SearchConfig",
    "StratloopConfig",
    "StratloopDeprecationWarning",
    "config_hash",
    "default_config",
    "llm_required",
    "load_config",
    "parse_assignment",
    "read_document",
    "resolve_api_key",
    "snapshot",
    "validate_config",
    "validate_dict",
]
