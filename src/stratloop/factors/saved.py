"""The persistent factor library: accepted champions kept across runs, one JSON file each.

Not to be confused with :mod:`stratloop.factors.library`, which holds the
*templates* the factor-graph generator samples (built-in and the user's YAML,
with parameter ranges, fixed for a run). This module holds *saved factors*:
concrete strategies a run accepted as champion, with where they came from and
how they scored, kept in a directory that outlives the run. A later run reads
them to mark candidates that merely re-discover one as ``redundant``, and
expressions may use one as a leaf, ``factor("name")``.

Layout: one file per factor, ``<directory>/<name>.json``, written atomically
(a temporary file, fsync, rename) under a lock file (``<directory>/.lock``),
so concurrent runs and ``stratloop library`` commands never see half an entry
or save one name twice. Each file carries a checksum of its content: an entry
that does not read back exactly as it was saved (a torn copy, a hand edit) is
an error naming the file and the fix, never skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import filelock
from pydantic import ValidationError

from stratloop._fsync import fsync_dir, write_synced
from stratloop._json import jsonable
from stratloop.errors import ExpressionError, SavedFactorError
from stratloop.factors._suggest import did_you_mean
from stratloop.factors.canonical import trial_key
from stratloop.factors.grammar import check_factor_name
from stratloop.factors.references import FactorDefinitions
from stratloop.spec import Strategy

__all__ = [
    "SAVED_SCHEMA",
    "AddResult",
    "FactorStore",
    "SavedFactor",
    "default_name",
    "definitions_of",
    "entry_from_json",
]

SAVED_SCHEMA = 1
"""Version of a saved factor's file."""

_KEYS = ("schema", "name", "spec", "trial_key", "run_id", "iteration", "metrics", "created")
_LOCK_TIMEOUT_S = 30.0
_SUFFIX = ".json"


def default_name(key: str) -> str:
    """A stable name from a trial key: the same factor gets the same name in every run."""
    return f"f_{key[:12]}"


def _checksum(body: Mapping[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SavedFactor:
    """One factor of the persistent library.

    Args:
        name: its name, used as ``factor("name")`` and as the file name.
        strategy: the expression and the portfolio rule (and exits) it was accepted with.
        trial_key: the strategy's :func:`~stratloop.factors.canonical.trial_key`.
        run_id: the run it came from (None when added by hand).
        iteration: the iteration of that run that produced it.
        metrics: what it scored: ``metric``, ``score``, ``train`` and ``validation``.
        created: when it was saved (UTC, ISO 8601).
    """

    name: str
    strategy: Strategy
    trial_key: str
    run_id: str | None
    iteration: int | None
    metrics: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    created: str = ""

    @classmethod
    def create(
        cls,
        strategy: Strategy,
        *,
        name: str | None = None,
        run_id: str | None = None,
        iteration: int | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> SavedFactor:
        """A new entry for ``strategy``, named by its trial key unless ``name`` is given.

        Raises:
            SavedFactorError: ``name`` is not a valid factor name.
            ExpressionError: the strategy's expression does not parse.
        """
        key = trial_key(strategy)
        chosen = default_name(key) if name is None else name
        problem = check_factor_name(chosen)
        if problem is not None:
            raise SavedFactorError("name", problem, "choose a name such as momentum_v2")
        return cls(
            name=chosen,
            strategy=strategy,
            trial_key=key,
            run_id=run_id,
            iteration=iteration,
            metrics=MappingProxyType(jsonable(dict(metrics or {}))),
            created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )

    @property
    def expression(self) -> str:
        """The signal expression."""
        return self.strategy.expression

    def to_json(self) -> dict[str, Any]:
        """The file's content, with the checksum of everything else."""
        body = {
            "schema": SAVED_SCHEMA,
            "name": self.name,
            "spec": self.strategy.model_dump(mode="json"),
            "trial_key": self.trial_key,
            "run_id": self.run_id,
            "iteration": self.iteration,
            "metrics": jsonable(dict(self.metrics)),
            "created": self.created,
        }
        return {**body, "checksum": _checksum(body)}


def entry_from_json(data: Any, path: Path) -> SavedFactor:  # noqa: C901 - one check per flaw
    """The entry a file holds.

    Anything but exactly what :meth:`SavedFactor.to_json` wrote is a
    :class:`~stratloop.errors.SavedFactorError` naming ``path`` and the fix.
    """
    fix = (
        f"restore the file from a backup, or remove it (stratloop library remove {path.stem}) "
        "and add the factor again (stratloop library add RUN_ID)"
    )

    def bad(problem: str) -> SavedFactorError:
        return SavedFactorError(str(path), problem, fix)

    if not isinstance(data, dict):
        raise bad(f"must hold a JSON object but holds {type(data).__name__}")
    if data.get("schema") != SAVED_SCHEMA:
        raise bad(f"schema must be {SAVED_SCHEMA} but is {data.get('schema')!r}")
    expected = {*_KEYS, "checksum"}
    if set(data) != expected:
        missing, extra = sorted(expected - set(data)), sorted(set(data) - expected)
        raise bad(f"has the wrong keys (missing: {missing}, unexpected: {extra})")
    body = {key: data[key] for key in _KEYS}
    try:
        matches = _checksum(body) == data["checksum"]
    except (TypeError, ValueError) as error:
        raise bad(f"holds a value JSON cannot keep: {error}") from error
    if not matches:
        raise bad(
            "its content does not match its checksum: it was edited or damaged after it was saved"
        )
    if data["name"] != path.stem:
        raise bad(f"names the factor {data['name']!r} but the file is {path.name}")
    problem = check_factor_name(str(data["name"]))
    if problem is not None:
        raise bad(problem)
    try:
        strategy = Strategy.model_validate(data["spec"])
    except ValidationError as error:
        raise bad(f"its spec is not a valid strategy: {error.errors()[0]['msg']}") from error
    iteration, metrics = data["iteration"], data["metrics"]
    if not isinstance(metrics, dict) or not (
        iteration is None or (isinstance(iteration, int) and not isinstance(iteration, bool))
    ):
        raise bad("metrics must be an object and iteration an integer or null")
    return SavedFactor(
        name=data["name"],
        strategy=strategy,
        trial_key=str(data["trial_key"]),
        run_id=data["run_id"],
        iteration=iteration,
        metrics=MappingProxyType(metrics),
        created=str(data["created"]),
    )


@dataclass(frozen=True, slots=True)
class AddResult:
    """What :meth:`FactorStore.add` did: ``added`` False when the factor was already there."""

    entry: SavedFactor
    added: bool


class FactorStore:
    """The persistent factor library in ``directory`` (created on the first save).

    Args:
        directory: where the entries live (``library.path``).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _file(self, name: str) -> Path:
        problem = check_factor_name(name)
        if problem is not None:
            raise SavedFactorError(str(self.directory), problem, "see stratloop library list")
        return self.directory / f"{name}{_SUFFIX}"

    def _files(self) -> list[Path]:
        if not self.directory.exists():
            return []
        if not self.directory.is_dir():
            raise SavedFactorError(
                str(self.directory), "is not a directory", "point library.path at a directory"
            )
        return sorted(
            path
            for path in self.directory.iterdir()
            if path.name.endswith(_SUFFIX) and not path.name.startswith(".")
        )

    def entries(self) -> tuple[SavedFactor, ...]:
        """Every entry, by name.

        Raises:
            SavedFactorError: an entry is unreadable, corrupt or edited (the
                message names its file and the fix).
        """
        return tuple(self._read(path) for path in self._files())

    def _read(self, path: Path) -> SavedFactor:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise SavedFactorError(
                str(path), f"cannot be read: {error}", "check its permissions or restore it"
            ) from error
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SavedFactorError(
                str(path),
                f"is not valid JSON ({error.msg} at line {error.lineno})",
                f"restore it, or remove it (stratloop library remove {path.stem})",
            ) from error
        return entry_from_json(data, path)

    @property
    def names(self) -> tuple[str, ...]:
        """Every entry's name (from the file names, without reading the entries)."""
        return tuple(path.stem for path in self._files())

    def get(self, name: str) -> SavedFactor:
        """The entry called ``name``.

        Raises:
            SavedFactorError: there is none (the message lists the known names) or it is corrupt.
        """
        path = self._file(name)
        if not path.exists():
            raise self._unknown(name)
        return self._read(path)

    def _unknown(self, name: str) -> SavedFactorError:
        known = self.names
        hint = did_you_mean(name, known)
        listed = f"known: {', '.join(known)}" if known else "the library is empty"
        return SavedFactorError(
            str(self.directory),
            f"no factor named {name!r}",
            f"{hint} {listed}" if hint else listed,
        )

    def definitions(self) -> FactorDefinitions:
        """What ``factor("name")`` refers to: every entry's expression.

        Raises:
            SavedFactorError: an entry is corrupt, or an expression does not
                parse or refers to factors in a cycle.
        """
        return definitions_of(self.entries(), source=str(self.directory))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = filelock.FileLock(str(self.directory / ".lock"), timeout=_LOCK_TIMEOUT_S)
            with lock:
                yield
        except filelock.Timeout as error:
            raise SavedFactorError(
                str(self.directory),
                f"is locked by another process for more than {_LOCK_TIMEOUT_S:g} s",
                "try again when the other run or command has finished",
            ) from error
        except OSError as error:
            raise SavedFactorError(
                str(self.directory), f"cannot be written: {error}", "check the path and its space"
            ) from error

    def add(self, entry: SavedFactor) -> AddResult:
        """Save ``entry``; a factor already saved (same trial key) is kept as it is.

        Raises:
            SavedFactorError: its name is taken by another factor, an existing
                entry is corrupt, or the file cannot be written.
        """
        path = self._file(entry.name)
        with self._locked():
            for existing in self.entries():
                if existing.trial_key == entry.trial_key:
                    return AddResult(existing, added=False)
            if path.exists():
                raise SavedFactorError(
                    str(path),
                    f"the name {entry.name!r} is taken by another factor",
                    "choose another name (stratloop library add RUN_ID --name NAME)",
                )
            data = json.dumps(entry.to_json(), indent=2, sort_keys=True) + "\n"
            temporary = self.directory / f".{entry.name}.{os.getpid()}.tmp"
            try:
                write_synced(temporary, data.encode())
                temporary.replace(path)
                fsync_dir(self.directory)
            finally:
                temporary.unlink(missing_ok=True)
        return AddResult(entry, added=True)

    def remove(self, name: str) -> None:
        """Delete the entry called ``name`` (also a corrupt one: it need not be readable).

        Raises:
            SavedFactorError: there is no such entry.
        """
        path = self._file(name)
        with self._locked():
            if not path.exists():
                raise self._unknown(name)
            path.unlink()
            fsync_dir(self.directory)


def definitions_of(entries: tuple[SavedFactor, ...], *, source: str) -> FactorDefinitions:
    """The :class:`FactorDefinitions` of ``entries``, a bad expression as a library error."""
    try:
        return FactorDefinitions({e.name: e.expression for e in entries}, source=source)
    except ExpressionError as error:
        raise SavedFactorError(
            source,
            str(error).splitlines()[0],
            "remove the entry it names (stratloop library remove NAME)",
        ) from error
