"""Find exactly one JSON (or plain YAML) object in a model's reply, within size bounds.

The reply is data: it is scanned, ``json.loads``-ed or ``yaml.safe_load``-ed
(after rejecting anchors, aliases and tags), never evaluated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml

from stratloop.errors import LLMGenerationError

__all__ = ["ReplyBounds", "extract_object", "fail_reply"]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_TOKENS = re.compile(r'"(?:\\.|[^"\\])*"|[{}\[\]]', re.DOTALL)
_YAML_SPEC = re.compile(r"^expression[ \t]*:", re.MULTILINE)
"""An unfenced reply is read as YAML when a line starts with ``expression:``."""
_SPEC_LANGUAGES = frozenset({"", "json", "json5", "yaml", "yml"})
_YAML_LANGUAGES = frozenset({"yaml", "yml"})
_NO_OBJECT = (
    "the reply holds no JSON object; answer with exactly one JSON object "
    "with the keys expression, portfolio and exits"
)


@dataclass(frozen=True, slots=True)
class ReplyBounds:
    """Size bounds on a reply, checked before anything is parsed.

    Args:
        max_reply_chars: longest reply read at all.
        max_nesting: deepest ``{}`` / ``[]`` nesting accepted inside the spec.
        max_expression_chars: longest ``expression`` accepted.
        max_rationale_chars: longest optional ``rationale`` accepted.
    """

    max_reply_chars: int = 20_000
    max_nesting: int = 8
    max_expression_chars: int = 1_000
    max_rationale_chars: int = 2_000


def extract_object(text: str, bounds: ReplyBounds) -> dict[str, Any]:
    """The one spec object in ``text``.

    In order: the one fenced block (```json, ```yaml or unlabelled); else plain
    YAML when a line starts with ``expression:``; else the one balanced ``{...}``.

    Raises:
        LLMGenerationError: too long, no object, more than one, or not parseable
            (the parser's error chained as ``__cause__``).
    """
    if len(text) > bounds.max_reply_chars:
        fail_reply(
            f"the reply is {len(text)} characters long, more than the "
            f"{bounds.max_reply_chars} accepted; reply with the JSON object only"
        )
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    spec_blocks = [(lang, body) for lang, body in blocks if lang in _SPEC_LANGUAGES]
    if len(spec_blocks) > 1:
        fail_reply(f"the reply has {len(spec_blocks)} fenced blocks; send exactly one spec")
    if spec_blocks:
        lang, body = spec_blocks[0]
        if lang in _YAML_LANGUAGES:
            return _from_yaml(body, bounds)
        return _from_json_text(body, bounds)
    if blocks:
        languages = ", ".join(sorted({lang or "unlabelled" for lang, _ in blocks}))
        fail_reply(
            f"the reply's fenced block is {languages}, not a JSON spec; strategies are "
            "data, not code: send one JSON object in a ```json block"
        )
    if _YAML_SPEC.search(text):
        return _from_yaml(text, bounds)
    if "{" not in text:
        fail_reply(_NO_OBJECT)
    return _from_json_text(text, bounds)


def _from_json_text(text: str, bounds: ReplyBounds) -> dict[str, Any]:
    if "{" not in text:
        return _from_yaml(text, bounds)
    spans = _object_spans(text, bounds)
    if not spans:
        fail_reply("the reply has no complete JSON object (unbalanced braces: was it cut off?)")
    if len(spans) > 1:
        fail_reply(f"the reply has {len(spans)} JSON objects; send exactly one")
    start, end = spans[0]
    try:
        value = json.loads(
            text[start:end],
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
        )
    except (ValueError, RecursionError) as exc:
        fail_reply(f"the JSON object does not parse: {exc}", exc)
    return _mapping(value)


def _object_spans(text: str, bounds: ReplyBounds) -> list[tuple[int, int]]:
    """Top-level balanced ``{...}`` spans; brackets inside JSON strings do not count."""
    spans: list[tuple[int, int]] = []
    depth = 0
    start = 0
    for match in _TOKENS.finditer(text):
        mark = match.group()
        if mark.startswith('"') or (depth == 0 and mark != "{"):
            continue
        if mark in "{[":
            start = match.start() if depth == 0 else start
            depth += 1
            if depth > bounds.max_nesting:
                fail_reply(f"the JSON object nests deeper than {bounds.max_nesting} levels")
        else:
            depth -= 1
            if depth == 0:
                spans.append((start, match.end()))
    return spans


def _from_yaml(text: str, bounds: ReplyBounds) -> dict[str, Any]:
    try:
        depth = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                fail_reply("the YAML uses anchors or aliases; write the spec out plainly")
            tag = getattr(event, "tag", None)
            if tag is not None and not getattr(event, "implicit", True):
                fail_reply(f"the YAML uses the tag {tag!r}; tags are not accepted")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > bounds.max_nesting:
                    fail_reply(f"the YAML nests deeper than {bounds.max_nesting} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        fail_reply(f"{_NO_OBJECT} (and it is not a YAML mapping either: {exc})", exc)
    if not isinstance(value, dict):
        fail_reply(_NO_OBJECT)
    return _mapping(value)


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        fail_reply(f"the spec must be a JSON object but is a {type(value).__name__}")
    if not all(isinstance(key, str) for key in value):
        fail_reply("every key of the spec must be a string")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            message = f"duplicate key {key!r}"
            raise ValueError(message)
        result[key] = value
    return result


def _no_constant(name: str) -> NoReturn:
    message = f"{name} is not a number a spec may hold"
    raise ValueError(message)


def fail_reply(problem: str, cause: BaseException | None = None) -> NoReturn:
    """Raise :class:`LLMGenerationError` for ``problem``, chaining the parser's ``cause``."""
    raise LLMGenerationError(f"the LLM's reply is not a valid strategy spec: {problem}") from cause
