"""Size, depth and window bounds every expression is held to."""

from __future__ import annotations

from dataclasses import dataclass

from stratloop.config.models import GenerationConfig

__all__ = ["EVALUATION_LIMITS", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on a candidate expression.

    Args:
        max_nodes: largest number of nodes (numbers, fields, calls, operators).
        max_depth: deepest nesting; also what keeps the parser's recursion bounded.
        max_window: largest time-series window or lag, in rows (trading days).
    """

    max_nodes: int = 64
    max_depth: int = 12
    max_window: int = 252

    def __post_init__(self) -> None:
        for name in ("max_nodes", "max_depth", "max_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"Limits.{name} must be a positive integer but got {value!r}"
                raise ValueError(msg)

    @classmethod
    def from_config(cls, generation: GenerationConfig) -> Limits:
        """The limits configured in the ``generation`` section."""
        return cls(
            max_nodes=generation.max_expression_nodes,
            max_depth=generation.max_expression_depth,
            max_window=generation.max_window,
        )


EVALUATION_LIMITS = Limits(max_nodes=10_000, max_depth=200, max_window=10_000)
"""The widest limits the configuration allows; used when evaluating text directly."""
