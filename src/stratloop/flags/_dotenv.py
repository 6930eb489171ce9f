"""A strict reader of the dotenv format used by flags files.

Lines are ``NAME=value``, optionally prefixed by ``export``; blank lines and
lines starting with ``#`` are ignored; a value may be wrapped in single or
double quotes; `` #`` after an unquoted value starts a comment. A line that is
none of these, or a name given twice, is an error naming the line(s).
"""

from __future__ import annotations

import re

from stratloop.errors import FlagSourceError

__all__ = ["parse_dotenv"]

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def parse_dotenv(text: str, source: str) -> dict[str, str]:
    """Parse dotenv ``text`` into a name-to-value mapping.

    Args:
        text: the file's contents.
        source: the file name, for error messages.

    Raises:
        FlagSourceError: a malformed line or a duplicate name.
    """
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise FlagSourceError(
                source,
                f"line {number} is not NAME=value: {raw!r}",
                "write e.g. PHASE4_AUDIT_TRAIL=false",
            )
        name, value = match.group(1), _unquote(match.group(2), source, number)
        if name in values:
            raise FlagSourceError(
                source,
                f"{name} is set twice (lines {lines[name]} and {number})",
                "keep one line per flag so the file says one thing",
            )
        values[name] = value
        lines[name] = number
    return values


def _unquote(value: str, source: str, number: int) -> str:
    if value[:1] in {'"', "'"}:
        quote = value[0]
        end = value.find(quote, 1)
        rest = value[end + 1 :].strip() if end > 0 else ""
        if end < 0 or (rest and not rest.startswith("#")):
            raise FlagSourceError(
                source, f"line {number} has an unbalanced quote", "close the quote"
            )
        return value[1:end]
    return value.split(" #", 1)[0].strip()
