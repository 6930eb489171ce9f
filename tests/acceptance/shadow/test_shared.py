from __future__ import annotations

import pytest

from stratloop.acceptance.shadow import SharedProposals
from stratloop.errors import LLMUnavailableError
from stratloop.generation import FunctionSource, GenerationContext
from stratloop.generation.testing import config_with
from stratloop.spec import Candidate, Strategy, TopN


def _counting():
    calls = []

    def propose(ctx):
        calls.append(ctx.iteration)
        window = 2 + len(calls)
        return Candidate(
            Strategy(expression=f"rank(ts_mean(returns, {window}))", portfolio=TopN(n=2)), "llm"
        )

    return FunctionSource(propose), calls


def _ctx(iteration, draws=1, rate=50.0):
    ctx = GenerationContext.create(config_with(None, rate), iteration)
    for _ in range(draws):
        ctx.rng.random()
    return ctx


class TestSharedProposals:
    def test_the_same_question_is_answered_once(self):
        """A second context at the same iteration and stream position gets the first answer."""
        source, calls = _counting()
        shared = SharedProposals(source)
        first = shared.propose(_ctx(3))
        assert shared.propose(_ctx(3)) == first
        assert calls == [3]
        assert shared.calls == 1

    def test_a_different_stream_position_is_a_new_question(self):
        """A path that consumed another draw asks the endpoint again, and may get another answer."""
        source, calls = _counting()
        shared = SharedProposals(source)
        first = shared.propose(_ctx(3))
        second = shared.propose(_ctx(3, draws=2))
        assert calls == [3, 3]
        assert first != second

    def test_a_failure_is_replayed_to_the_second_asker(self):
        """The endpoint's exception reaches both sides; the endpoint is asked once."""
        calls = []

        def down(ctx):
            calls.append(ctx.iteration)
            raise LLMUnavailableError("endpoint down")

        shared = SharedProposals(FunctionSource(down))
        for _ in range(2):
            with pytest.raises(LLMUnavailableError, match="endpoint down"):
                shared.propose(_ctx(1))
        assert calls == [1]

    def test_forget_drops_unclaimed_answers(self):
        """After forget, the same question goes to the endpoint again."""
        source, calls = _counting()
        shared = SharedProposals(source)
        shared.propose(_ctx(5))
        shared.forget()
        shared.propose(_ctx(5))
        assert calls == [5, 5]
