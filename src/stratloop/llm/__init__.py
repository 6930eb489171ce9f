"""The LLM side of generation: an OpenAI-compatible client, its budget and a scripted server."""

from stratloop.llm.budget import TokenBudget, Usage
from stratloop.llm.client import PLACEHOLDER_API_KEY, Completion, LLMClient, Message, RetryPolicy
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

__all__ = [
    "PLACEHOLDER_API_KEY",
    "Completion",
    "Disconnect",
    "Hang",
    "LLMClient",
    "Malformed",
    "Message",
    "NoChoices",
    "RecordedRequest",
    "Reply",
    "RetryPolicy",
    "ScriptStep",
    "ScriptedOpenAIServer",
    "Status",
    "TokenBudget",
    "Usage",
]
