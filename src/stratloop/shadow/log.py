"""Shadow logs on disk: one JSON document of per-iteration records."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stratloop.errors import ConfigFileError
from stratloop.shadow.record import ShadowRecord

__all__ = ["SCHEMA_VERSION", "read_log", "write_log"]

SCHEMA_VERSION = 1


def write_log(path: Path, records: Sequence[ShadowRecord], meta: Mapping[str, Any]) -> None:
    """Write ``records`` with ``meta`` (implementation, environment, seed) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "schema_version": SCHEMA_VERSION,
        **meta,
        "records": [record.as_dict() for record in records],
    }
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def read_log(path: Path) -> tuple[ShadowRecord, ...]:
    """Read a log written by :func:`write_log`.

    Raises:
        ConfigFileError: the file is missing, not JSON, or not a shadow log.
    """
    fix = (
        "create it with `python scripts/generate_shadow_logs.py` or "
        "`python scripts/run_shadow_mode.py`"
    )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigFileError(str(path), "it does not exist", fix) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigFileError(str(path), f"it is not readable JSON ({exc})", fix) from None
    if not isinstance(document, dict) or document.get("schema_version") != SCHEMA_VERSION:
        raise ConfigFileError(
            str(path), f"it is not a shadow log with schema_version {SCHEMA_VERSION}", fix
        )
    try:
        return tuple(ShadowRecord.from_dict(item) for item in document["records"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigFileError(str(path), f"a record is malformed ({exc})", fix) from None
