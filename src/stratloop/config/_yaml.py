"""A safe, strict YAML reader for configuration files and override values.

On top of PyYAML's safe loader it rejects what would make a file mean
something other than what it says: duplicate keys (PyYAML keeps the last one
silently), any explicit tag (``!!python/object``, ``!!binary``, ...), alias
expansion beyond a small bound (the "billion laughs"), and non-UTF-8 bytes.
Scalars follow YAML 1.2's core schema: only ``true``/``false`` are booleans
(``yes``, ``on``, ``no`` stay strings) and ``1:30`` is not sexagesimal 90.
Nothing is ever constructed beyond plain scalars, lists and mappings.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["MAX_EXPANDED_NODES", "YamlProblem", "load_yaml", "parse_scalar"]

MAX_EXPANDED_NODES = 10_000
"""Upper bound on the document's size with every alias expanded."""


class YamlProblem(Exception):
    """Why a YAML text was refused; the caller adds the file name."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.2 core-schema implicit types."""


_Resolver.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:timestamp", r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "0123456789"),
):
    _Resolver.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


class _Loader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    yaml.constructor.SafeConstructor,
    _Resolver,
):
    def __init__(self, stream: str) -> None:
        self._depth = 0
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _Resolver.__init__(self)

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!" and not isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            raise YamlProblem(
                f"explicit tag {tag!r} at line {mark.line + 1}, column {mark.column + 1}",
                "remove the tag: configuration files hold plain values only",
            )
        if self._depth >= _MAX_DEPTH:
            mark = event.start_mark
            raise YamlProblem(
                f"nesting deeper than {_MAX_DEPTH} levels at line {mark.line + 1}, "
                f"column {mark.column + 1}",
                "flatten the document: a stratloop file is a few levels deep",
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_MAX_DEPTH = 64
"""Deepest nesting accepted; a configuration or spec needs a handful of levels."""

_INT_BASES = {"0o": 8, "0x": 16}


def _construct_int(loader: _Loader, node: ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    base = _INT_BASES.get(text[:2], 10)
    return int(text[2:] if base != 10 else text, base)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)  # type: ignore[type-var]


def load_yaml(text: str) -> Any:
    """Parse ``text`` into plain Python values.

    Raises:
        YamlProblem: syntax error, duplicate key, explicit tag, or alias bomb.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_node(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = " ".join(filter(None, (exc.context, exc.problem)))
        raise YamlProblem(f"not valid YAML: {what}{where}", "fix the syntax") from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(f"not valid YAML: {exc}", "fix the syntax") from exc
    finally:
        loader.dispose()


def parse_scalar(text: str) -> Any:
    """Parse one override value with the same rules (``50`` -> 50, ``null`` -> None)."""
    return load_yaml(text)


def _check_node(root: Node) -> None:
    """Reject duplicate keys and documents whose alias-expanded size exceeds the bound."""
    sizes: dict[int, int] = {}
    total = _expanded(root, sizes, set())
    if total > MAX_EXPANDED_NODES:
        raise YamlProblem(
            f"the document expands to more than {MAX_EXPANDED_NODES} values through aliases",
            "write the values out instead of nesting anchors and aliases",
        )


def _expanded(node: Node, sizes: dict[int, int], active: set[int]) -> int:
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise YamlProblem("a recursive alias", "remove the alias that refers to its own anchor")
    active.add(key)
    size = 1
    if isinstance(node, MappingNode):
        _check_duplicates(node)
        children = [part for pair in node.value for part in pair]
    else:
        children = list(node.value) if isinstance(node, SequenceNode) else []
    for child in children:
        size += _expanded(child, sizes, active)
        if size > MAX_EXPANDED_NODES:
            break
    active.discard(key)
    sizes[key] = size
    return size


def _check_duplicates(node: MappingNode) -> None:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, ScalarNode):
            continue
        line = key_node.start_mark.line + 1
        if key_node.value in seen:
            first = seen[key_node.value]
            raise YamlProblem(
                f"duplicate key {key_node.value!r} at lines {first} and {line}",
                "keep one of them: YAML would silently use the last one",
            )
        seen[key_node.value] = line
