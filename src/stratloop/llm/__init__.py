"""The LLM side of generation: client, budget, prompts, reply parsing and proposer.

The budget loads eagerly; everything that needs the
``openai`` package (about half a second to import) loads on first use, so code
that may run without an LLM, such as the loop's budget accounting, stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratloop._lazy import lazy_members as _lazy_members
from stratloop.llm.budget import TokenBudget, Usage

if TYPE_CHECKING:
    from stratloop.llm.client import LLMClient
    from stratloop.llm.prompts import Universe
    from stratloop.llm.proposer import LLMProposer

__all__ = [
    "LLMClient",
    "LLMProposer",
    "TokenBudget",
    "Universe",
    "Usage",
]

_LAZY = {
    "LLMClient": "stratloop.llm.client",
    "LLMProposer": "stratloop.llm.proposer",
    "Universe": "stratloop.llm.prompts",
}


__getattr__ = _lazy_members(__name__, _LAZY, globals())
