"""One answer per question: the LLM is asked once when both sides ask it the same thing.

An LLM is an external effect whose answers vary from call to call, so two
calls cannot show whether two code paths behave alike. In shadow mode the
control's call goes to the endpoint; when the candidate then asks the same
question (same iteration, seed, champion, feedback and random-stream
position), it gets the control's answer, or the control's exception, again.
A candidate that asks a different question goes to the endpoint, and whatever
comes back is compared as it is.
"""

from __future__ import annotations

import json
from collections.abc import Hashable

from stratloop.generation.context import GenerationContext
from stratloop.generation.strategies import CandidateSource
from stratloop.spec import Candidate

__all__ = ["SharedProposals"]


class SharedProposals:
    """A :class:`~stratloop.generation.CandidateSource` that answers a repeated question once.

    Args:
        inner: the source asked for each new question.
    """

    __slots__ = ("_answers", "_inner", "calls")

    def __init__(self, inner: CandidateSource) -> None:
        self._inner = inner
        self._answers: dict[Hashable, Candidate | Exception] = {}
        self.calls = 0
        """How many questions reached ``inner``."""

    @property
    def inner(self) -> CandidateSource:
        """The wrapped source."""
        return self._inner

    def propose(self, ctx: GenerationContext) -> Candidate:
        """The answer to this context's question: ``inner``'s, asked at most once."""
        key = _question(ctx)
        answer = self._answers.pop(key, None)
        if answer is None:
            self.calls += 1
            try:
                answer = self._inner.propose(ctx)
            except Exception as exc:
                self._answers[key] = exc
                raise
            self._answers[key] = answer
            return answer
        if isinstance(answer, Exception):
            raise answer
        return answer

    def forget(self) -> None:
        """Drop answers nobody asked for again (call when an iteration is done)."""
        self._answers.clear()


def _question(ctx: GenerationContext) -> Hashable:
    """What the answer may depend on besides the configuration, which both sides share."""
    position = json.dumps(ctx.rng.bit_generator.state, sort_keys=True)
    return (ctx.iteration, ctx.seed, position, repr(ctx.champion), ctx.feedback)
