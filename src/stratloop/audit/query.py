"""SQL over every archive of a trail (current, zstd- and gzip-compressed) with DuckDB.

The records are exposed as a view named ``audit``; nested fields are
structs, e.g. ``SELECT decision.method, count(*) FROM audit GROUP BY 1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratloop.audit._files import discover_trails, iter_lines
from stratloop.errors import AuditFormatError

__all__ = ["QueryResult", "query_trail"]


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Column names and rows of one query."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def _files(paths: Sequence[Path]) -> list[str]:
    files: list[str] = []
    for path in paths:
        for trail in discover_trails(path):
            for file in trail.ordered:
                if any(not raw.terminated for raw in iter_lines(file)):
                    raise AuditFormatError(
                        f"{file} ends in a torn line (a crash mid-write); the writer moves it "
                        "aside at its next start, or run `stratloop audit verify` to see it"
                    )
                if file.stat().st_size:
                    files.append(str(file))
    if not files:
        raise AuditFormatError(f"no audit records under {', '.join(map(str, paths))}")
    return files


def query_trail(paths: Sequence[Path], sql: str) -> QueryResult:
    """Run ``sql`` against a view ``audit`` over every record file under ``paths``.

    Raises:
        AuditFormatError: no audit files, a torn file, or a query DuckDB rejects.
    """
    import duckdb  # noqa: PLC0415 - heavy, only for this command

    files = _files(paths)
    connection = duckdb.connect(":memory:")
    try:
        listed = ", ".join("'" + name.replace("'", "''") + "'" for name in files)
        connection.execute(
            f"CREATE VIEW audit AS SELECT * FROM read_json([{listed}], "  # noqa: S608 - quoted paths
            "format='newline_delimited', union_by_name=true, maximum_object_size=104857600)"
        )
        cursor = connection.execute(sql)
        columns = tuple(str(item[0]) for item in cursor.description or ())
        rows = tuple(tuple(row) for row in cursor.fetchall())
    except duckdb.Error as exc:
        raise AuditFormatError(f"query failed: {exc}") from exc
    finally:
        connection.close()
    return QueryResult(columns, rows)
