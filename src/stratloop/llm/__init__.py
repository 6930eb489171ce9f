"""The LLM side of generation: client, budget, prompts, reply parsing, proposer, scripted server.

The budget and the scripted server load eagerly; everything that needs the
``openai`` package (about half a second to import) loads on first use, so code
that may run without an LLM, such as the loop's budget accounting, stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stratloop.llm.budget import TokenBudget, Usage
from stratloop.llm.scripted_server import (
    Disconnect,
    Hang,
    Malformed,
    NoChoices,
    RecordedRequest,
    Reply,
    ScriptedOpenAIServer,
    ScriptStep,
    Status,
)

if TYPE_CHECKING:
    from stratloop.llm.client import (
        PLACEHOLDER_API_KEY,
        Completion,
        LLMClient,
        Message,
        RetryPolicy,
    )
    from stratloop.llm.prompts import PromptSettings, Universe, build_messages, repair_messages
    from stratloop.llm.proposer import EXAMPLE_STRATEGY, LLMProposer
    from stratloop.llm.response import ParsedReply, ReplyBounds, parse_reply

__all__ = [
    "EXAMPLE_STRATEGY",
    "PLACEHOLDER_API_KEY",
    "Completion",
    "Disconnect",
    "Hang",
    "LLMClient",
    "LLMProposer",
    "Malformed",
    "Message",
    "NoChoices",
    "ParsedReply",
    "PromptSettings",
    "RecordedRequest",
    "Reply",
    "ReplyBounds",
    "RetryPolicy",
    "ScriptStep",
    "ScriptedOpenAIServer",
    "Status",
    "TokenBudget",
    "Universe",
    "Usage",
    "build_messages",
    "parse_reply",
    "repair_messages",
]

_LAZY = {
    "Completion": "stratloop.llm.client",
    "EXAMPLE_STRATEGY": "stratloop.llm.proposer",
    "LLMClient": "stratloop.llm.client",
    "LLMProposer": "stratloop.llm.proposer",
    "Message": "stratloop.llm.client",
    "PLACEHOLDER_API_KEY": "stratloop.llm.client",
    "ParsedReply": "stratloop.llm.response",
    "PromptSettings": "stratloop.llm.prompts",
    "ReplyBounds": "stratloop.llm.response",
    "RetryPolicy": "stratloop.llm.client",
    "Universe": "stratloop.llm.prompts",
    "build_messages": "stratloop.llm.prompts",
    "parse_reply": "stratloop.llm.response",
    "repair_messages": "stratloop.llm.prompts",
}


def __getattr__(name: str) -> Any:
    """Load an openai-dependent member on first use, from the fixed table above."""
    module = _LAZY.get(name)
    if module is None:
        message = f"module 'stratloop.llm' has no attribute {name!r}"
        raise AttributeError(message)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
