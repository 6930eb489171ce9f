"""Shadow logs on disk: one JSON document of per-iteration records."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stratloop.acceptance.shadow.basis import basis_differences
from stratloop.acceptance.shadow.compare import Comparison, compare_records
from stratloop.acceptance.shadow.record import ShadowRecord
from stratloop.errors import ConfigFileError

__all__ = ["SCHEMA_VERSION", "compare_logs", "read_log", "write_log"]

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
    return _records(path, _document(path))


def compare_logs(old: Path, new: Path) -> Comparison:
    """Compare a control log with a candidate log, each read once.

    Logs that differ in their data, their generation configuration, their seed
    schedule or the champion their factor graphs mutated are refused, naming
    each difference: their records differ by construction, and a comparison
    would read as non-equivalence. A log written before champions were
    recorded sampled, so it counts as none.

    Raises:
        ConfigFileError: as :func:`read_log`, or the two logs cannot match.
    """
    documents = _document(old), _document(new)
    differences = basis_differences(*documents)
    champions = [_champion(path, doc) for path, doc in zip((old, new), documents, strict=True)]
    if champions[0].get("strategy_id") != champions[1].get("strategy_id"):
        mutated = [
            f"{c.get('source')} ({c.get('strategy_id') or 'no champion'})" for c in champions
        ]
        differences.append(f"champion: {mutated[0]} vs {mutated[1]}")
    if differences:
        raise ConfigFileError(
            str(new),
            f"its records cannot match those of {old} iteration by iteration, because the "
            f"two runs differ (old vs new) in {'; and in '.join(differences)}",
            "record both logs with the same environment (data and configuration), seed, "
            "--iterations and --champion, e.g. the baseline with `python "
            "scripts/generate_shadow_logs.py --environment ENV --phase1-2 BASELINE --phase3 "
            "OTHER --iterations N` (see docs/generation.md)",
        )
    return compare_records(_records(old, documents[0]), _records(new, documents[1]))


def _records(path: Path, document: Mapping[str, Any]) -> tuple[ShadowRecord, ...]:
    try:
        return tuple(ShadowRecord.from_dict(item) for item in document["records"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigFileError(str(path), f"a record is malformed ({exc})", _FIX) from None


def _champion(path: Path, document: Mapping[str, Any]) -> Mapping[str, Any]:
    champion = document.get("champion", _NO_CHAMPION)
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
