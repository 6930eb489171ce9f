"""Shadow logs on disk: one JSON document of per-iteration records."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stratloop.errors import ConfigFileError
from stratloop.shadow.record import ShadowRecord

__all__ = ["SCHEMA_VERSION", "log_champion", "read_log", "write_log"]

SCHEMA_VERSION = 1
_NO_CHAMPION = {"source": "none", "strategy_id": None}
_FIX = (
    "create it with `python scripts/generate_shadow_logs.py` or `python scripts/run_shadow_mode.py`"
)


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
    document = _document(path)
    try:
        return tuple(ShadowRecord.from_dict(item) for item in document["records"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigFileError(str(path), f"a record is malformed ({exc})", _FIX) from None


def log_champion(path: Path) -> Mapping[str, Any]:
    """The champion a log's factor-graph iterations mutated (``source`` none: they sampled).

    Logs written before champions were recorded sampled, so they read as none.

    Raises:
        ConfigFileError: as :func:`read_log`, or the champion entry is not a mapping.
    """
    champion = _document(path).get("champion", _NO_CHAMPION)
    if not isinstance(champion, dict):
        raise ConfigFileError(str(path), f"its champion entry is {champion!r}, not a mapping", _FIX)
    return champion


def _document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigFileError(str(path), "it does not exist", _FIX) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigFileError(str(path), f"it is not readable JSON ({exc})", _FIX) from None
    if not isinstance(document, dict) or document.get("schema_version") != SCHEMA_VERSION:
        raise ConfigFileError(
            str(path), f"it is not a shadow log with schema_version {SCHEMA_VERSION}", _FIX
        )
    return document
