"""Where flags come from: the environment, a watched dotenv file, or OpenFeature.

Every source has ``current() -> Flags``, cheap enough to call at every
iteration boundary, so a running loop picks up a rollback without a restart.

- :class:`EnvFlagSource` reads the process environment (or a given mapping)
  at each call.
- :class:`DotenvFlagSource` re-reads its file when its modification time or
  size changes. A changed file with a bad value raises at that call and at
  every later call until the file is fixed; the previous good flags stay
  available as :attr:`DotenvFlagSource.last_good` for a caller that explicitly
  decides to carry on with them (and records that it did).
- :class:`OpenFeatureFlagSource` evaluates the five variables as boolean flags
  through an OpenFeature client; :func:`flagd_file_source` builds one on the
  flagd in-process provider reading a local flagd JSON file, offline.

Percentage rollouts: in the environment and in dotenv files,
``<FLAG>_ROLLOUT_PERCENT=10`` limits ``<FLAG>`` to 10% of instances
(see :mod:`stratloop.flags.rollout`); in a flagd file, flagd's own
``fractional`` targeting does the same.

OpenFeature (and grpc, for flagd) is imported only by the code that uses it: most
runs read flags from the environment and must not pay for it.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, Self

from stratloop.errors import FlagSourceError
from stratloop.flags._dotenv import parse_dotenv
from stratloop.flags._resolve import KNOWN_KEYS, check_known, resolve
from stratloop.flags.model import FLAG_VARIABLES, MASTER, PHASE1, Flags
from stratloop.flags.parse import parse_flag
from stratloop.flags.rollout import instance_id

__all__ = [
    "DotenvFlagSource",
    "EnvFlagSource",
    "FlagSource",
    "OpenFeatureFlagSource",
    "flagd_file_source",
    "open_flag_source",
]

_LOOKALIKE_PREFIXES = ("PHASE", "ENABLE_GENERATION")
_domains = itertools.count()


def _stat(path: Path, fix: str) -> os.stat_result:
    """``path``'s status, or the :class:`FlagSourceError` that says how to ``fix`` it."""
    try:
        return path.stat()
    except OSError as exc:
        raise FlagSourceError(str(path), f"cannot read the file ({exc.strerror})", fix) from exc


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
    """Flags from a dotenv file, re-read whenever the file changes.

    Args:
        path: the flags file.
        targeting_key: the rollout key; ``None`` means the instance id.
    """

    def __init__(self, path: Path, *, targeting_key: str | None = None) -> None:
        self.path = Path(path)
        self._key = instance_id() if targeting_key is None else targeting_key
        self._stamp: tuple[int, int, int] | None = None
        self._flags: Flags | None = None
        self._lock = threading.Lock()

    @property
    def last_good(self) -> Flags | None:
        """The flags of the last version of the file that was valid, if any."""
        return self._flags

    def current(self) -> Flags:
        """The file's flags; re-parsed only if its mtime or size changed.

        Raises:
            FlagSourceError: the file is missing, unreadable or malformed.
            FlagError: a value is not a boolean.
        """
        with self._lock:
            stamp = self._stat()
            if stamp != self._stamp or self._flags is None:
                flags = self._read()
                self._flags, self._stamp = flags, stamp
            return self._flags

    def _stat(self) -> tuple[int, int, int]:
        info = _stat(self.path, "check the --flags-file path")
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def _read(self) -> Flags:
        source = str(self.path)
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FlagSourceError(
                source, f"cannot read the file ({exc})", "write it as UTF-8 text"
            ) from exc
        values = parse_dotenv(text, source)
        check_known(values, source)
        return resolve(values, source=source, targeting_key=self._key)


class OpenFeatureFlagSource:
    """Flags evaluated through an OpenFeature client, one boolean flag per variable.

    A flag the provider does not know is unset, hence true. A provider that is
    not ready or in error (e.g. its file became invalid), or a flag that is not
    boolean, is a :class:`FlagSourceError`: the provider's stale values are
    never used silently.

    Args:
        client: an ``openfeature.client.OpenFeatureClient``.
        targeting_key: the key sent in the evaluation context; ``None`` means the instance id.
        name: how the source is named in messages and records.
        watched_file: a flagd JSON file whose flag names are checked for typos when it changes.
        on_close: called by :meth:`close` to release the provider.
    """

    def __init__(
        self,
        client: Any,
        *,
        targeting_key: str | None = None,
        name: str = "openfeature",
        watched_file: Path | None = None,
        on_close: Any = None,
    ) -> None:
        from openfeature.evaluation_context import EvaluationContext  # noqa: PLC0415 - openfeature

        self._client = client
        self._key = instance_id() if targeting_key is None else targeting_key
        self._context = EvaluationContext(targeting_key=self._key)
        self.name = name
        self._watched = watched_file
        self._stamp: tuple[int, int] | None = None
        self._on_close = on_close

    def current(self) -> Flags:
        """Evaluate the five flags now.

        Raises:
            FlagSourceError: the provider is not ready or in error, or a flag is not boolean.
            FlagError: an unknown flag name in the watched file.
        """
        from openfeature.exception import ErrorCode  # noqa: PLC0415 - openfeature
        from openfeature.provider import ProviderStatus  # noqa: PLC0415 - openfeature

        self._check_file()
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
                values[variable] = True
            elif details.error_code is not None:
                raise FlagSourceError(
                    self.name,
                    f"flag {variable} could not be evaluated ({details.error_code.value}: "
                    f"{details.error_message})",
                    "make it a boolean flag with true/false variants",
                )
            elif isinstance(details.value, bool):
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

    def _check_file(self) -> None:
        if self._watched is None:
            return
        info = _stat(self._watched, "check the flags file path")
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp == self._stamp:
            return
        names = _flagd_flag_names(self._watched)
        check_known(names, str(self._watched))
        self._stamp = stamp


def _flagd_flag_names(path: Path) -> list[str]:
    """The flag keys of a flagd JSON file, with its syntax errors reported plainly."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FlagSourceError(
            str(path), f"not a readable JSON document ({exc})", "fix the JSON"
        ) from exc
    flags = document.get("flags") if isinstance(document, dict) else None
    if not isinstance(flags, dict):
        raise FlagSourceError(
            str(path), "no 'flags' object at the top level", "use flagd's flag file format"
        )
    return [str(name) for name in flags]


def flagd_file_source(
    path: Path, *, targeting_key: str | None = None, poll_ms: int = 500
) -> OpenFeatureFlagSource:
    """An OpenFeature source on the flagd in-process provider reading a local JSON file.

    Works offline: flagd's file resolver watches ``path`` (polling every
    ``poll_ms``) and evaluates targeting rules such as ``fractional`` locally.

    Args:
        path: a flagd flag-definition JSON file.
        targeting_key: the evaluation context's key; ``None`` means the instance id.
        poll_ms: how often the provider looks for a changed file.

    Raises:
        FlagSourceError: the file is missing, not flagd JSON, or names an unknown flag.
    """
    from openfeature import api  # noqa: PLC0415 - openfeature
    from openfeature.contrib.provider.flagd import FlagdProvider  # noqa: PLC0415 - grpc
    from openfeature.contrib.provider.flagd.config import ResolverType  # noqa: PLC0415 - grpc

    path = Path(path)
    check_known(_flagd_flag_names(path), str(path))
    _quiet_flagd_logger()
    domain = f"stratloop-flags-{next(_domains)}"
    provider = FlagdProvider(
        resolver_type=ResolverType.FILE, offline_flag_source_path=str(path), deadline_ms=poll_ms
    )
    api.set_provider_and_wait(provider, domain=domain)
    source = OpenFeatureFlagSource(
        api.get_client(domain=domain),
        targeting_key=targeting_key,
        name=f"flagd file {path}",
        watched_file=path,
        on_close=provider.shutdown,
    )
    source.current()
    return source


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
    """The source ``--flags-file`` selects.

    A ``.json`` file is read by flagd, any other file as dotenv, and no file
    means the environment. A file source is read once here so a bad file fails
    at start-up.
    """
    if flags_file is None:
        return EnvFlagSource(environ)
    key = instance_id(environ)
    if Path(flags_file).suffix.lower() == ".json":
        return flagd_file_source(Path(flags_file), targeting_key=key)
    source = DotenvFlagSource(Path(flags_file), targeting_key=key)
    source.current()
    return source
