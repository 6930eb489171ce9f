"""Read a scripted server's steps from a YAML file, strictly.

The file is a mapping with ``steps`` (a list) and optional ``model`` and
``cycle``. Each step has exactly one of the keys ``reply``, ``empty``,
``no_choices``, ``status``, ``hang``, ``malformed``, ``disconnect``::

    model: scripted-model
    cycle: true
    steps:
      - status: 429
        retry_after: 1
      - reply: '{"expression": "rank(returns)", "portfolio": {"kind": "top_n", "n": 5}}'
      - hang: 90
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stratloop.errors import ConfigFileError
from stratloop.llm.scripted_server import (
    Disconnect,
    ErrorStatus,
    Hang,
    Malformed,
    NoChoices,
    Reply,
    ScriptStep,
)

__all__ = ["ScriptFile", "load_script"]

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)
_KINDS = ("reply", "empty", "no_choices", "status", "hang", "malformed", "disconnect")


class _Step(BaseModel):
    model_config = _STRICT
    reply: str | None = None
    prompt_tokens: Annotated[int, Field(ge=0)] = 100
    completion_tokens: Annotated[int, Field(ge=0)] = 50
    empty: bool | None = None
    no_choices: bool | None = None
    status: Annotated[int, Field(ge=100, le=599)] | None = None
    message: str = "scripted error"
    retry_after: Annotated[float, Field(ge=0)] | None = None
    hang: Annotated[float, Field(gt=0, le=3600)] | None = None
    malformed: str | None = None
    disconnect: bool | None = None

    def step(self) -> ScriptStep:
        kinds = [kind for kind in _KINDS if getattr(self, kind) is not None]
        if len(kinds) != 1:
            message = f"each step needs exactly one of {', '.join(_KINDS)} but got {kinds}"
            raise ValueError(message)
        if self.reply is not None:
            return Reply(self.reply, self.prompt_tokens, self.completion_tokens)
        if self.status is not None:
            headers = {} if self.retry_after is None else {"Retry-After": f"{self.retry_after:g}"}
            return ErrorStatus(self.status, self.message, MappingProxyType(headers))
        if self.hang is not None:
            return Hang(self.hang)
        if self.malformed is not None:
            return Malformed(self.malformed)
        if self.empty is not None:
            return Reply("")
        return NoChoices() if self.no_choices is not None else Disconnect()


class ScriptFile(BaseModel):
    """A scripted server's configuration as read from a file."""

    model_config = _STRICT
    model: Annotated[str, Field(min_length=1)] = "scripted-model"
    cycle: bool = False
    steps: Annotated[list[_Step], Field(min_length=1)]

    def script(self) -> tuple[ScriptStep, ...]:
        """The steps as server script items."""
        return tuple(step.step() for step in self.steps)


def load_script(path: Path) -> tuple[ScriptFile, tuple[ScriptStep, ...]]:
    """Read and check ``path``.

    Raises:
        ConfigFileError: unreadable, not YAML, or a step that is not exactly one kind.
    """
    fix = "see the format in stratloop.llm._script_file's docstring (docs/llm.md)"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = ScriptFile.model_validate(data)
        return parsed, parsed.script()
    except OSError as exc:
        raise ConfigFileError(str(path), f"cannot read it ({exc.strerror})", fix) from exc
    except (yaml.YAMLError, ValidationError, ValueError) as exc:
        problem = " ".join(str(exc).split())[:500]
        raise ConfigFileError(str(path), problem, fix) from exc
