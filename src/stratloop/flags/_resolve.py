"""Turn raw ``NAME=value`` text into :class:`Flags`: shared by the env and dotenv sources."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from stratloop.errors import FlagCombinationError, FlagSourceError
from stratloop.flags.model import (
    FLAG_VARIABLES,
    MASTER,
    PHASE1,
    PHASE3,
    ROLLOUT_SUFFIX,
    Flags,
    Rollout,
)
from stratloop.flags.parse import parse_flag, parse_percent
from stratloop.flags.rollout import in_rollout

__all__ = ["KNOWN_KEYS", "check_known", "require_every_flag", "resolve"]

KNOWN_KEYS = FLAG_VARIABLES + tuple(name + ROLLOUT_SUFFIX for name in FLAG_VARIABLES)
"""Every key a flags file may hold: the five flags and their rollout percentages."""


def check_known(keys: Iterable[str], source: str) -> None:
    """Reject any key that is not a flag or rollout variable, with a "did you mean"."""
    for key in keys:
        if key in KNOWN_KEYS:
            continue
        close = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(FLAG_VARIABLES)}"
        raise FlagSourceError(source, f"unknown flag {key!r}", hint)


def require_every_flag(values: Mapping[str, object], source: str) -> None:
    """A flags file must name every flag: a missing one is an error, never "unset means true".

    In the environment an unset flag means true (a fresh install runs the
    finished system). In a file that rule would turn a rolled-back phase back
    on when its line is deleted or the file is emptied, so a file says every
    flag explicitly.

    Raises:
        FlagSourceError: naming the first missing or empty flag and the file.
    """
    missing = [name for name in FLAG_VARIABLES if name not in values]
    if missing:
        listed = ", ".join(missing)
        raise FlagSourceError(
            source,
            f"{missing[0]} is not set (missing: {listed})",
            "a flags file names every flag explicitly, since a missing flag would silently mean "
            f"true; add {missing[0]}=true or {missing[0]}=false",
        )
    for name in FLAG_VARIABLES:
        value = values[name]
        if isinstance(value, str) and not value.strip():
            raise FlagSourceError(
                source,
                f"{name} is empty",
                f"write {name}=true or {name}=false; an empty value is never taken as true",
            )


def resolve(values: Mapping[str, str], *, source: str, targeting_key: str) -> Flags:
    """Parse the five flags and their rollouts from ``values`` (unset means true).

    Args:
        values: variable name to text; other names are ignored.
        source: where the values came from, for messages and the record.
        targeting_key: the key percentage rollouts bucket on.

    Raises:
        FlagError: a value is not a boolean or a rollout is not a percentage.
        FlagCombinationError: Phase 3 may run where Phase 1 is off.
    """
    declared: dict[str, bool] = {}
    percents: dict[str, float] = {}
    for name in FLAG_VARIABLES:
        text = values.get(name)
        declared[name] = True if text is None else parse_flag(name, text, source)
        rollout_text = values.get(name + ROLLOUT_SUFFIX)
        if rollout_text is not None:
            percents[name] = parse_percent(name + ROLLOUT_SUFFIX, rollout_text, source)
    _check_rollout_order(declared, percents, source)
    rollouts: list[Rollout] = []
    final: dict[str, bool] = {}
    for name in FLAG_VARIABLES:
        on = declared[name]
        if on and name in percents:
            included = in_rollout(name, targeting_key, percents[name])
            rollouts.append(Rollout(name, percents[name], targeting_key, included))
            on = included
        final[name] = on
    return Flags(
        master=final[MASTER],
        phase1=final[PHASE1],
        phase2=final["PHASE2_PYDANTIC_VALIDATION"],
        phase3=final[PHASE3],
        phase4=final["PHASE4_AUDIT_TRAIL"],
        source=source,
        rollouts=tuple(rollouts),
    )


def _check_rollout_order(
    declared: dict[str, bool], percents: dict[str, float], source: str
) -> None:
    """Phase 3 anywhere needs Phase 1 everywhere: a partial Phase 1 rollout under it is an error."""
    phase3_possible = declared[PHASE3] and percents.get(PHASE3, 100.0) > 0.0
    phase1_partial = declared[PHASE1] and percents.get(PHASE1, 100.0) < 100.0
    if declared[MASTER] and phase3_possible and phase1_partial:
        raise FlagCombinationError(
            f"{PHASE3} is on for some instances while {PHASE1} is rolled out to only "
            f"{percents[PHASE1]:g}% (from {source}); Phase 3 requires Phase 1 on every instance "
            f"where it runs: finish the {PHASE1} rollout (100%) or set {PHASE3}=false"
        )
