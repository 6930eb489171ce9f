"""One named check of a guide command: whether it passed and what was observed."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CheckResult"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check: its name, whether it passed, and what was observed."""

    name: str
    passed: bool
    detail: str
