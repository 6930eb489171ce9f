"""Strict parsing of feature-flag values and rollout percentages.

A flag value is a boolean written as true/false, 1/0, yes/no or on/off in any
case, with surrounding blanks ignored. Anything else (``ture``, ``enabled``,
an empty string) is a :class:`~stratloop.errors.FlagError` naming the variable
and the value: a typo must never silently switch a phase on or off.
"""

from __future__ import annotations

import math

from stratloop.errors import FlagError, FlagSourceError

__all__ = ["parse_flag", "parse_percent"]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def parse_flag(variable: str, value: str, source: str = "environment") -> bool:
    """Parse one flag value.

    Args:
        variable: the flag's variable name, for the error message.
        value: the text as written.
        source: where the value came from, for the error message.

    Returns:
        The boolean the text denotes.

    Raises:
        FlagError: the text is not one of the accepted spellings.
    """
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FlagError(variable, value, source)


def parse_percent(variable: str, value: str, source: str = "environment") -> float:
    """Parse a rollout percentage: a finite number from 0 to 100, an optional ``%`` suffix.

    Args:
        variable: the rollout variable's name, for the error message.
        value: the text as written, e.g. ``10`` or ``12.5%``.
        source: where the value came from, for the error message.

    Raises:
        FlagSourceError: the text is not a number from 0 to 100.
    """
    text = value.strip().removesuffix("%").strip()
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not 0.0 <= number <= 100.0:
        raise FlagSourceError(
            source,
            f"{variable} has value {value!r}, which is not a percentage",
            "write a number from 0 to 100, e.g. 10 or 12.5",
        )
    return number
