"""Redacted, JSON-ready configuration snapshots and their stable hash.

The API key itself is never part of a configuration (only the *name* of the
variable holding it), so it cannot leak through a snapshot. Credentials
written into ``llm.base_url`` (``https://user:token@host``, ``?key=...``) are
redacted too. The hash is sha256 over canonical JSON (sorted keys, no
blanks), so equal configurations hash equal on every machine.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from stratloop.config.models import LLMConfig, StratloopConfig
from stratloop.redaction import REDACTED, redact_text

__all__ = ["REDACTED", "config_hash", "resolve_api_key", "snapshot"]



def snapshot(config: StratloopConfig) -> dict[str, Any]:
    """The configuration as JSON-ready data with secrets redacted."""
    data = config.model_dump(mode="json")
    base_url = data["llm"].get("base_url")
    if isinstance(base_url, str):
        data["llm"]["base_url"] = redact_text(base_url)
    return data


def config_hash(config: StratloopConfig | Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of a configuration's snapshot."""
    data = snapshot(config) if isinstance(config, StratloopConfig) else config
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resolve_api_key(llm: LLMConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The API key from the variable ``llm.api_key_env`` names; ``None`` if unset or empty."""
    env = os.environ if environ is None else environ
    return env.get(llm.api_key_env) or None
