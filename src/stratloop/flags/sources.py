"""Where flags come from: the environment, a watched dotenv file, or OpenFeature.

Every source has ``current() -> Flags``, cheap enough to call at every
iteration boundary, so a running loop picks up a rollback without a restart.

- :class:`EnvFlagSource` reads the process environment (or a given mapping)
  at each call.
- :class:`DotenvFlagSource` reads a ``NAME=value`` file and
  :class:`FlagdFileSource` a flagd JSON file (evaluated by the flagd
  in-process provider, offline). Both re-read their file whenever its content
  hash changes (an in-place edit that keeps the size and modification time is
  seen), and both require every flag to be named: in a file, a missing or
  empty flag is an error, never "unset means true". A changed file that is
  bad raises at that call and at every later call until the file is fixed;
  the stale values are never returned.
- :class:`OpenFeatureFlagSource` evaluates the five variables as boolean flags
  through any OpenFeature client.
- :func:`open_flag_source` picks the file source from the file's extension
  and content (``.json`` or a JSON object: flagd; otherwise dotenv), for
  every command that takes ``--flags-file``.

Percentage rollouts: in the environment and in dotenv files,
``<FLAG>_ROLLOUT_PERCENT=10`` limits ``<FLAG>`` to 10% of instances
(see :mod:`stratloop.flags.rollout`); in a flagd file, flagd's own
``fractional`` targeting does the same.

OpenFeature (and grpc, for flagd) is imported only by the code that uses it: most
runs read flags from the environment and must not pay for it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, Self

from stratloop.errors import FlagSourceError
from stratloop.flags._dotenv import parse_dotenv
from stratloop.flags._resolve import KNOWN_KEYS, check_known, require_every_flag, resolve
from stratloop.flags.model import FLAG_VARIABLES, MASTER, PHASE1, ROLLOUT_SUFFIX, Flags
from stratloop.flags.parse import parse_flag
from stratloop.flags.rollout import instance_id

__all__ = [
    "DotenvFlagSource",
    "EnvFlagSource",
    "FlagSource",
    "FlagdFileSource",
    "OpenFeatureFlagSource",
    "flagd_file_source",
    "flags_file_format",
    "open_flag_source",
]

_LOOKALIKE_PREFIXES = ("PHASE", "ENABLE_GENERATION")
_domains = itertools.count()


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, or the :class:`FlagSourceError` that says why they cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FlagSourceError(
            str(path), f"cannot read the file ({exc.strerror})", "check the --flags-file path"
        ) from exc


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _text(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlagSourceError(
            str(path), f"cannot read the file ({exc})", "write it as UTF-8 text"
        ) from exc


class FlagSource(Protocol):
    """Anything that can say what the flags are now."""

    def current(self) -> Flags:
        """The flags as of this call."""
        ...


class EnvFlagSource:
    """Flags from environment variables, read afresh at every call.

    Args:
        environ: the variables; ``None`` means the live ``os.environ``.
        targeting_key: the rollout key; ``None`` means the instance id.
    """

    def __init__(
        self, environ: Mapping[str, str] | None = None, *, targeting_key: str | None = None
    ) -> None:
        self._environ = environ
        self._key = targeting_key

    def current(self) -> Flags:
        """The flags in the environment now.

        A look-alike variable such as ``PHASE2_PYDANTIC_VALIDATON`` is an error:
        a typo must not leave a phase silently at its default.
        """
        env = os.environ if self._environ is None else self._environ
        lookalikes = [
            name for name in env if name.startswith(_LOOKALIKE_PREFIXES) and name not in KNOWN_KEYS
        ]
        check_known(lookalikes, "environment")
        key = instance_id(env) if self._key is None else self._key
        return resolve(env, source="environment", targeting_key=key)


class DotenvFlagSource:
    """Flags from a dotenv file, re-read whenever the file's content changes.

    The file is read at every call and compared by content hash, so an edit
    is seen however it was made (in place, same size, same modification time,
    or a file moved over it). It must name all five flags.

    Args:
        path: the flags file.
        targeting_key: the rollout key; ``None`` means the instance id.
    """

    def __init__(self, path: Path, *, targeting_key: str | None = None) -> None:
        self.path = Path(path)
        self._key = instance_id() if targeting_key is None else targeting_key
        self._digest: str | None = None
        self._flags: Flags | None = None
        self._lock = threading.Lock()

    @property
    def last_good(self) -> Flags | None:
        """The flags of the last version of the file that was valid, if any."""
        return self._flags

    def current(self) -> Flags:
        """The file's flags; re-parsed only if its content changed.

        Raises:
            FlagSourceError: the file is missing, unreadable, malformed or does not name every flag.
            FlagError: a value is not a boolean.
        """
        with self._lock:
            data = _read_bytes(self.path)
            digest = _digest(data)
            if digest != self._digest or self._flags is None:
                flags = self._parse(data)
                self._flags, self._digest = flags, digest
            return self._flags

    def _parse(self, data: bytes) -> Flags:
        source = str(self.path)
        text = _text(data, self.path)
        if _looks_like_json(data):
            raise FlagSourceError(
                source,
                "it holds a JSON object, not NAME=value lines",
                "a flagd JSON flags file must be named *.json; or write NAME=value lines",
            )
        values = parse_dotenv(text, source)
        check_known(values, source)
        require_every_flag(values, source)
        return resolve(values, source=source, targeting_key=self._key)


class OpenFeatureFlagSource:
    """Flags evaluated through an OpenFeature client, one boolean flag per variable.

    Every flag must be defined: a flag the provider does not know is an
    error, as a missing line in a flags file is. A provider that is not ready
    or in error, or a flag that is not boolean, is a :class:`FlagSourceError`:
    the provider's stale values are never used silently.

    Args:
        client: an ``openfeature.client.OpenFeatureClient``.
        targeting_key: the key sent in the evaluation context; ``None`` means the instance id.
        name: how the source is named in messages and records.
        on_close: called by :meth:`close` to release the provider.
    """

    def __init__(
        self,
        client: Any,
        *,
        targeting_key: str | None = None,
        name: str = "openfeature",
        on_close: Callable[[], object] | None = None,
    ) -> None:
        from openfeature.evaluation_context import EvaluationContext  # noqa: PLC0415 - openfeature

        self._client = client
        self._key = instance_id() if targeting_key is None else targeting_key
        self._context = EvaluationContext(targeting_key=self._key)
        self.name = name
        self._on_close = on_close

    def current(self) -> Flags:
        """Evaluate the five flags now.

        Raises:
            FlagSourceError: the provider is not ready or in error, a flag is
                not defined, or a flag is not boolean.
        """
        from openfeature.exception import ErrorCode  # noqa: PLC0415 - openfeature
        from openfeature.provider import ProviderStatus  # noqa: PLC0415 - openfeature

        status = self._client.get_provider_status()
        if status != ProviderStatus.READY:
            raise FlagSourceError(
                self.name,
                f"the flag provider is {status.value}, so its values cannot be trusted",
                "fix the flag file or provider; the last values are not used silently",
            )
        values: dict[str, bool] = {}
        for variable in FLAG_VARIABLES:
            details = self._client.get_boolean_details(variable, True, self._context)
            if details.error_code == ErrorCode.FLAG_NOT_FOUND:
                raise FlagSourceError(
                    self.name,
                    f"flag {variable} is not defined (or is disabled)",
                    "define every flag explicitly, since a missing flag would silently mean "
                    "true; give it on/off variants and a defaultVariant",
                )
            if details.error_code is not None:
                raise FlagSourceError(
                    self.name,
                    f"flag {variable} could not be evaluated ({details.error_code.value}: "
                    f"{details.error_message})",
                    "make it a boolean flag with true/false variants",
                )
            if isinstance(details.value, bool):
                values[variable] = details.value
            else:
                values[variable] = parse_flag(variable, str(details.value), self.name)
        return Flags(
            master=values[MASTER],
            phase1=values[PHASE1],
            phase2=values["PHASE2_PYDANTIC_VALIDATION"],
            phase3=values["PHASE3_STRATEGY_PATTERN"],
            phase4=values["PHASE4_AUDIT_TRAIL"],
            source=self.name,
        )

    def close(self) -> None:
        """Release the provider (stops a flagd file watcher's thread)."""
        if self._on_close is not None:
            self._on_close()
            self._on_close = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class FlagdFileSource:
    """Flags from a local flagd JSON file, evaluated by the flagd in-process provider, offline.

    At every call the file's content hash is compared with the loaded
    version's. A changed file is checked (JSON, a ``flags`` object, known
    names only, every flag named, no ``_ROLLOUT_PERCENT`` keys, which flagd
    would not read) and handed to a new provider that reads a private copy of
    exactly those bytes, so the values evaluated are those of the content
    checked: flagd's own watcher, which reloads only when the modification
    time grows, never decides. Targeting rules (``fractional``) are evaluated
    by flagd. A bad file raises at every call until it is fixed.

    Args:
        path: a flagd flag-definition JSON file.
        targeting_key: the evaluation context's key; ``None`` means the instance id.
    """

    def __init__(self, path: Path, *, targeting_key: str | None = None) -> None:
        self.path = Path(path)
        self._key = instance_id() if targeting_key is None else targeting_key
        self._digest: str | None = None
        self._source: OpenFeatureFlagSource | None = None
        self._copies = Path(tempfile.mkdtemp(prefix="stratloop-flagd-"))
        self._lock = threading.Lock()
        weakref.finalize(self, shutil.rmtree, self._copies, ignore_errors=True)

    def current(self) -> Flags:
        """The file's flags as flagd evaluates them for this instance.

        Raises:
            FlagSourceError: the file is missing, not flagd JSON, names an
                unknown flag, misses one, or a flag cannot be evaluated.
        """
        with self._lock:
            data = _read_bytes(self.path)
            digest = _digest(data)
            if digest != self._digest or self._source is None:
                self._load(data, digest)
            assert self._source is not None
            return self._source.current()

    def close(self) -> None:
        """Shut the provider down and remove the private copy."""
        with self._lock:
            if self._source is not None:
                self._source.close()
                self._source = None
            shutil.rmtree(self._copies, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _load(self, data: bytes, digest: str) -> None:
        from openfeature import api  # noqa: PLC0415 - openfeature
        from openfeature.contrib.provider.flagd import FlagdProvider  # noqa: PLC0415 - grpc
        from openfeature.contrib.provider.flagd.config import ResolverType  # noqa: PLC0415 - grpc

        source = str(self.path)
        _check_flagd_document(_text(data, self.path), source)
        copy = self._copies / f"flags-{digest[:16]}.json"
        copy.write_bytes(data)
        _quiet_flagd_logger()
        domain = f"stratloop-flags-{next(_domains)}"
        provider = FlagdProvider(
            resolver_type=ResolverType.FILE,
            offline_flag_source_path=str(copy),
            deadline_ms=_FLAGD_POLL_MS,
        )
        try:
            api.set_provider_and_wait(provider, domain=domain)
        except Exception as exc:
            provider.shutdown()
            raise FlagSourceError(
                source, f"flagd cannot load it ({exc})", "use flagd's flag file format"
            ) from exc
        fresh = OpenFeatureFlagSource(
            api.get_client(domain=domain),
            targeting_key=self._key,
            name=f"flagd file {self.path}",
            on_close=provider.shutdown,
        )
        try:
            fresh.current()
        except BaseException:
            fresh.close()
            copy.unlink(missing_ok=True)
            raise
        old, self._source, self._digest = self._source, fresh, digest
        if old is not None:
            old.close()
        for stale in self._copies.glob("flags-*.json"):
            if stale != copy:
                stale.unlink(missing_ok=True)


_FLAGD_POLL_MS = 60_000
"""flagd's watcher polls the private copy, which never changes; changes are seen by hash."""


def _looks_like_json(data: bytes) -> bool:
    return data.lstrip()[:1] == b"{"


def _check_flagd_document(text: str, source: str) -> None:
    """A flagd file's syntax, flag names and completeness, reported plainly."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FlagSourceError(
            source, f"not a readable JSON document ({exc})", "fix the JSON"
        ) from exc
    flags = document.get("flags") if isinstance(document, dict) else None
    if not isinstance(flags, dict):
        raise FlagSourceError(
            source, "no 'flags' object at the top level", "use flagd's flag file format"
        )
    check_known(flags, source)
    rollouts = sorted(name for name in flags if name.endswith(ROLLOUT_SUFFIX))
    if rollouts:
        raise FlagSourceError(
            source,
            f"{rollouts[0]} is not read from a flagd file",
            "use flagd's fractional targeting on the flag itself (see docs/flags.md)",
        )
    require_every_flag(flags, source)


def flagd_file_source(path: Path, *, targeting_key: str | None = None) -> FlagdFileSource:
    """A :class:`FlagdFileSource` on ``path``, read once so a bad file fails here.

    Args:
        path: a flagd flag-definition JSON file.
        targeting_key: the evaluation context's key; ``None`` means the instance id.

    Raises:
        FlagSourceError: the file is missing, not flagd JSON, names an unknown
            flag or misses one.
    """
    source = FlagdFileSource(Path(path), targeting_key=targeting_key)
    try:
        source.current()
    except BaseException:
        source.close()
        raise
    return source


def flags_file_format(path: Path) -> Literal["dotenv", "flagd"]:
    """Which reader a flags file needs, from its extension and its content.

    ``.json`` is flagd and ``.env`` dotenv; any other name is flagd when the
    content is a JSON object and dotenv otherwise. A name that contradicts the
    content (``flags.json`` holding ``NAME=value`` lines, ``flags.env``
    holding JSON) is an error rather than a guess.

    Raises:
        FlagSourceError: the file cannot be read, or its name and content disagree.
    """
    path = Path(path)
    looks_json = _looks_like_json(_read_bytes(path))
    suffix = path.suffix.lower()
    if suffix == ".json" and not looks_json:
        raise FlagSourceError(
            str(path),
            "it is named .json but does not hold a JSON object",
            'write a flagd flag file ({"flags": {...}}), or name it .env for NAME=value lines',
        )
    if suffix == ".env" and looks_json:
        raise FlagSourceError(
            str(path),
            "it is named .env but holds a JSON object",
            "name a flagd flag file *.json, or write NAME=value lines",
        )
    return "flagd" if looks_json else "dotenv"


def _quiet_flagd_logger() -> None:
    """Keep flagd's watcher from printing tracebacks when nobody configured logging.

    Its errors are not lost: the provider goes to the error state and
    :meth:`OpenFeatureFlagSource.current` raises a :class:`FlagSourceError`.
    """
    logger = logging.getLogger("openfeature.contrib")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def open_flag_source(
    flags_file: Path | None, environ: Mapping[str, str] | None = None
) -> FlagSource:
    """The source ``--flags-file`` selects, for every command that takes it.

    No file means the environment; a file is read by flagd or as dotenv
    according to :func:`flags_file_format`. A file source is read once here so
    a bad file fails at start-up.

    Raises:
        FlagError: the file is bad (see the sources).
    """
    if flags_file is None:
        return EnvFlagSource(environ)
    key = instance_id(environ)
    path = Path(flags_file)
    if flags_file_format(path) == "flagd":
        return flagd_file_source(path, targeting_key=key)
    source = DotenvFlagSource(path, targeting_key=key)
    source.current()
    return source
