import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratloop.config.models import LLMConfig
from stratloop.errors import ConfigValidationError, LLMBudgetExhaustedError
from stratloop.llm.budget import TokenBudget, Usage


class TestTokenBudget:
    def test_unlimited_never_exhausts(self) -> None:
        """Without limits any usage is allowed."""
        budget = TokenBudget()
        budget.record(10**9, 10**9)
        budget.check()
        assert not budget.exhausted

    def test_token_limit(self) -> None:
        """Reaching max_tokens refuses the next call with a message naming the setting."""
        budget = TokenBudget(max_tokens=100)
        budget.record(50, 49)
        budget.check()
        budget.record(1, 0)
        with pytest.raises(LLMBudgetExhaustedError, match=r"100 of llm.max_tokens_per_run=100"):
            budget.check()

    def test_cost_limit(self) -> None:
        """Cost is tokens times the price per 1k; reaching max_cost refuses the next call."""
        budget = TokenBudget(cost_per_1k_tokens=2.0, max_cost=1.0)
        usage = budget.record(250, 250)
        assert usage.cost == pytest.approx(1.0)
        with pytest.raises(LLMBudgetExhaustedError, match=r"llm\.max_cost_per_run"):
            budget.check()

    def test_cost_without_price_is_a_config_error(self) -> None:
        """A cost budget with no price cannot be enforced and says so."""
        with pytest.raises(ConfigValidationError, match=r"llm\.cost_per_1k_tokens"):
            TokenBudget(max_cost=5.0)

    def test_from_config(self) -> None:
        """The llm section's budget fields are used."""
        config = LLMConfig(max_tokens_per_run=500, cost_per_1k_tokens=0.5, max_cost_per_run=9.0)
        budget = TokenBudget.from_config(config, spent=Usage(prompt_tokens=500))
        assert (budget.max_tokens, budget.cost_per_1k_tokens, budget.max_cost) == (500, 0.5, 9.0)
        assert budget.exhausted

    def test_estimated_calls_are_counted(self) -> None:
        """Calls whose usage was estimated are counted apart."""
        budget = TokenBudget()
        budget.record(1, 1, estimated=True)
        budget.record(1, 1)
        assert (budget.usage.calls, budget.usage.estimated_calls) == (2, 1)

    def test_threads_lose_nothing(self) -> None:
        """Concurrent records all count."""
        budget = TokenBudget()

        def work() -> None:
            for _ in range(500):
                budget.record(1, 1)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert budget.usage.tokens == 4000

    @given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), max_size=30))
    def test_totals_add_up(self, calls) -> None:
        """Usage is the sum of the recorded calls."""
        budget = TokenBudget()
        for prompt, completion in calls:
            budget.record(prompt, completion)
        assert budget.usage.tokens == sum(p + c for p, c in calls)
        assert budget.usage.calls == len(calls)
