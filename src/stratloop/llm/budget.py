"""The run's LLM token and cost budget.

Every completion's usage is recorded here; once the tokens or the cost are
spent, the next call is refused with :class:`LLMBudgetExhaustedError` before
any request leaves the machine. What happens then (stop the run, or go on
factor-graph-only) is the loop's configured, recorded decision.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stratloop.config.models import LLMConfig
from stratloop.errors import ConfigIssue, ConfigValidationError, LLMBudgetExhaustedError

if TYPE_CHECKING:
    from stratloop.llm.calls import LLMCall

__all__ = ["TokenBudget", "Usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens and cost spent so far.

    Args:
        prompt_tokens: tokens sent, as reported by the endpoint.
        completion_tokens: tokens received, as reported by the endpoint.
        cost: money spent, in the unit of ``llm.cost_per_1k_tokens`` (0 when unpriced).
        calls: completions that returned a reply.
        estimated_calls: calls whose endpoint reported no usage, so their
            tokens were estimated from the text length (4 characters a token).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    calls: int = 0
    estimated_calls: int = 0

    @property
    def tokens(self) -> int:
        """All tokens, prompt and completion."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        """Both usages together."""
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost=self.cost + other.cost,
            calls=self.calls + other.calls,
            estimated_calls=self.estimated_calls + other.estimated_calls,
        )


class TokenBudget:
    """Accumulates usage and refuses calls once the run's budget is spent.

    Thread-safe: parallel generators may share one budget.

    Args:
        max_tokens: the run's token budget (``llm.max_tokens_per_run``); None is unlimited.
        cost_per_1k_tokens: price of 1,000 tokens; None means cost is not tracked.
        max_cost: the run's cost budget (``llm.max_cost_per_run``); None is unlimited.
        spent: usage already spent, e.g. by the run before a resume.
    """

    def __init__(
        self,
        *,
        max_tokens: int | None = None,
        cost_per_1k_tokens: float | None = None,
        max_cost: float | None = None,
        spent: Usage | None = None,
    ) -> None:
        if max_cost is not None and cost_per_1k_tokens is None:
            issue = ConfigIssue(
                "llm.cost_per_1k_tokens",
                None,
                "set when llm.max_cost_per_run is set (a cost budget needs a price)",
                hint="set llm.cost_per_1k_tokens or unset llm.max_cost_per_run",
            )
            raise ConfigValidationError([issue])
        self.max_tokens = max_tokens
        self.cost_per_1k_tokens = cost_per_1k_tokens
        self.max_cost = max_cost
        self._lock = threading.Lock()
        self._usage = spent or Usage()
        self._calls: list[LLMCall] = []

    @classmethod
    def from_config(cls, config: LLMConfig, *, spent: Usage | None = None) -> TokenBudget:
        """The budget the ``llm`` section sets (tokens, price and cost per run)."""
        return cls(
            max_tokens=config.max_tokens_per_run,
            cost_per_1k_tokens=config.cost_per_1k_tokens,
            max_cost=config.max_cost_per_run,
            spent=spent,
        )

    @property
    def usage(self) -> Usage:
        """Everything spent so far."""
        with self._lock:
            return self._usage

    @property
    def exhausted(self) -> bool:
        """True once the tokens or the cost are spent."""
        return self._reason(self.usage) is not None

    def check(self) -> None:
        """Raise :class:`LLMBudgetExhaustedError` if no further call may be made."""
        reason = self._reason(self.usage)
        if reason is not None:
            raise LLMBudgetExhaustedError(reason)

    def record(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        estimated: bool = False,
        cost_per_1k_tokens: float | None = None,
    ) -> Usage:
        """Add one call's usage and return the new total.

        Args:
            prompt_tokens: tokens sent.
            completion_tokens: tokens received.
            estimated: the endpoint reported no usage; the counts are estimates.
            cost_per_1k_tokens: this call's price (an ensemble model's own);
                None uses the budget's.
        """
        cost = self.price(prompt_tokens + completion_tokens, cost_per_1k_tokens) or 0.0
        with self._lock:
            self._usage += Usage(prompt_tokens, completion_tokens, cost, 1, int(estimated))
            return self._usage

    def price(self, tokens: int, cost_per_1k_tokens: float | None = None) -> float | None:
        """What ``tokens`` cost at this price (the budget's when None); None when unpriced."""
        rate = self.cost_per_1k_tokens if cost_per_1k_tokens is None else cost_per_1k_tokens
        return None if rate is None else tokens * rate / 1000

    def log_call(self, call: LLMCall) -> None:
        """Keep one call's record until the loop takes it into the iteration's record."""
        with self._lock:
            self._calls.append(call)

    def drain_calls(self) -> tuple[LLMCall, ...]:
        """The call records logged since the last drain, oldest first; the log is emptied."""
        with self._lock:
            calls, self._calls = tuple(self._calls), []
            return calls

    def __repr__(self) -> str:
        return (
            f"TokenBudget(max_tokens={self.max_tokens}, max_cost={self.max_cost}, "
            f"usage={self.usage})"
        )

    def _reason(self, usage: Usage) -> str | None:
        if self.max_tokens is not None and usage.tokens >= self.max_tokens:
            return (
                f"the run's LLM token budget is spent: {usage.tokens} of "
                f"llm.max_tokens_per_run={self.max_tokens} tokens used in {usage.calls} calls; "
                "raise llm.max_tokens_per_run, or set llm.on_budget_exhausted: factor_graph_only"
            )
        if self.max_cost is not None and usage.cost >= self.max_cost:
            return (
                f"the run's LLM cost budget is spent: {usage.cost:.4f} of "
                f"llm.max_cost_per_run={self.max_cost:g} used in {usage.calls} calls; "
                "raise llm.max_cost_per_run, or set llm.on_budget_exhausted: factor_graph_only"
            )
        return None
