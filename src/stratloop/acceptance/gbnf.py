r"""A small GBNF interpreter: parse a grammar, sample strings from it, recognise strings.

The scripted LLM server uses it as llama.cpp's server does: a request's
``grammar`` that does not parse is refused with HTTP 400, and a scripted reply
the grammar does not accept is an error of the script (a real server could
never have sent it). The tests use it to sample replies from the grammar
stratloop generates and to check that known-good expressions are accepted.

Supported: rules ``name ::= ...`` (one per line, continued after ``|`` or
inside parentheses), ``"literals"`` with ``\" \\ \n \t \r \xHH`` escapes,
character classes ``[a-z]`` / ``[^...]``, ``.``, groups, ``* + ?`` and
``{m}``, ``{m,}``, ``{m,n}``, and ``#`` comments.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["Grammar", "GrammarError", "parse_gbnf"]

_NAME = re.compile(r"[A-Za-z0-9-]+")
_UNBOUNDED_SAMPLE = 3
"""How many repetitions the sampler draws at most for ``*``, ``+`` and ``{m,}``."""
_PRINTABLE = [chr(c) for c in range(32, 127)]


class GrammarError(ValueError):
    """The grammar text does not parse, or names a rule it does not define."""


@dataclass(frozen=True, slots=True)
class _Lit:
    text: str


@dataclass(frozen=True, slots=True)
class _Class:
    ranges: tuple[tuple[str, str], ...]
    negated: bool

    def accepts(self, char: str) -> bool:
        inside = any(low <= char <= high for low, high in self.ranges)
        return inside != self.negated


@dataclass(frozen=True, slots=True)
class _Ref:
    name: str


@dataclass(frozen=True, slots=True)
class _Seq:
    items: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Alt:
    options: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Rep:
    item: _Node
    low: int
    high: int | None


_Node: TypeAlias = _Lit | _Class | _Ref | _Seq | _Alt | _Rep


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, problem: str) -> GrammarError:
        line = self.text.count("\n", 0, self.pos) + 1
        return GrammarError(f"grammar does not parse at line {line}: {problem}")

    def space(self, *, newlines: bool) -> None:
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            elif char in " \t\r" or (newlines and char == "\n"):
                self.pos += 1
            else:
                return

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def name(self) -> str:
        match = _NAME.match(self.text, self.pos)
        if match is None:
            raise self.fail(f"expected a rule name at {self.text[self.pos:self.pos + 20]!r}")
        self.pos = match.end()
        return match.group()

    def char(self, closing: str) -> str:
        """One (possibly escaped) character of a literal or class."""
        if self.pos >= len(self.text):
            raise self.fail(f"unterminated {closing!r}")
        char = self.text[self.pos]
        self.pos += 1
        if char != "\\":
            return char
        code = self.peek()
        self.pos += 1
        simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "[": "[", "]": "]",
                  "-": "-", "^": "^"}
        if code in simple:
            return simple[code]
        if code in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[code]
            digits = self.text[self.pos:self.pos + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise self.fail(f"bad escape \\{code}{digits}")
            self.pos += width
            return chr(int(digits, 16))
        raise self.fail(f"unknown escape \\{code}")

    def alternatives(self, *, nested: bool) -> _Node:
        options = [self.sequence(nested=nested)]
        while self.peek() == "|":
            self.pos += 1
            self.space(newlines=True)
            options.append(self.sequence(nested=nested))
        return options[0] if len(options) == 1 else _Alt(tuple(options))

    def sequence(self, *, nested: bool) -> _Node:
        items: list[_Node] = []
        while True:
            self.space(newlines=nested)
            char = self.peek()
            if char == "" or char in "|)\n":
                break
            if self.text.startswith("::=", self._after_name()):
                break
            items.append(self.repeated(self.atom()))
        return items[0] if len(items) == 1 else _Seq(tuple(items))

    def _after_name(self) -> int:
        """Position after a name and spaces at the cursor (to spot the next rule's head)."""
        match = _NAME.match(self.text, self.pos)
        if match is None:
            return -1
        end = match.end()
        while end < len(self.text) and self.text[end] in " \t":
            end += 1
        return end

    def atom(self) -> _Node:
        char = self.peek()
        if char == '"':
            self.pos += 1
            chars = []
            while self.peek() != '"':
                chars.append(self.char('"'))
            self.pos += 1
            return _Lit("".join(chars))
        if char == "[":
            return self.char_class()
        if char == ".":
            self.pos += 1
            return _Class((), negated=True)
        if char == "(":
            self.pos += 1
            self.space(newlines=True)
            inner = self.alternatives(nested=True)
            self.space(newlines=True)
            if self.peek() != ")":
                raise self.fail("expected ')'")
            self.pos += 1
            return inner
        return _Ref(self.name())

    def char_class(self) -> _Class:
        self.pos += 1
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        ranges: list[tuple[str, str]] = []
        while self.peek() != "]":
            low = self.char("]")
            high = low
            if self.peek() == "-" and self.text[self.pos + 1:self.pos + 2] not in ("]", ""):
                self.pos += 1
                high = self.char("]")
            ranges.append((low, high))
        self.pos += 1
        return _Class(tuple(ranges), negated)

    def repeated(self, node: _Node) -> _Node:
        char = self.peek()
        if char == "*":
            self.pos += 1
            return _Rep(node, 0, None)
        if char == "+":
            self.pos += 1
            return _Rep(node, 1, None)
        if char == "?":
            self.pos += 1
            return _Rep(node, 0, 1)
        if char == "{":
            end = self.text.find("}", self.pos)
            if end < 0:
                raise self.fail("unterminated '{'")
            body = self.text[self.pos + 1:end]
            self.pos = end + 1
            match = re.fullmatch(r"\s*(\d+)\s*(,\s*(\d*)\s*)?", body)
            if match is None:
                raise self.fail(f"bad repetition {{{body}}}")
            low = int(match.group(1))
            if match.group(2) is None:
                return _Rep(node, low, low)
            high = int(match.group(3)) if match.group(3) else None
            return _Rep(node, low, high)
        return node


def parse_gbnf(text: str) -> Grammar:
    """Parse GBNF text.

    Raises:
        GrammarError: a syntax error, a rule defined twice, an undefined rule
            or no ``root`` rule.
    """
    reader = _Reader(text)
    rules: dict[str, _Node] = {}
    while True:
        reader.space(newlines=True)
        if reader.pos >= len(text):
            break
        name = reader.name()
        reader.space(newlines=False)
        if not text.startswith("::=", reader.pos):
            raise reader.fail(f"expected '::=' after {name!r}")
        reader.pos += 3
        reader.space(newlines=True)
        if name in rules:
            raise reader.fail(f"rule {name!r} is defined twice")
        rules[name] = reader.alternatives(nested=False)
    if "root" not in rules:
        raise GrammarError("grammar has no root rule")
    for name, node in rules.items():
        _check_refs(node, rules, name)
    return Grammar(rules)


def _check_refs(node: _Node, rules: Mapping[str, _Node], owner: str) -> None:
    match node:
        case _Ref(name) if name not in rules:
            raise GrammarError(f"rule {owner!r} uses the undefined rule {name!r}")
        case _Seq(items) | _Alt(items):
            for item in items:
                _check_refs(item, rules, owner)
        case _Rep(item):
            _check_refs(item, rules, owner)
        case _:
            return


class Grammar:
    """A parsed GBNF grammar: sample from it, or ask whether it accepts a string."""

    def __init__(self, rules: Mapping[str, _Node]) -> None:
        self.rules = dict(rules)
        self._shortest = self._shortest_lengths()
        self._shortest_options: dict[int, _Node] = {}

    def sample(
        self,
        rng: random.Random,
        *,
        rule: str = "root",
        brevity: float = 0.0,
        max_depth: int = 24,
    ) -> str:
        """A random string the grammar accepts (repetitions drawn small).

        Args:
            rng: the generator.
            rule: the rule to start from.
            brevity: the chance, at each choice, of taking the alternative with
                the shortest derivation; 0 chooses uniformly (the widest
                exploration), values near 1 give short strings, as a model writes.
            max_depth: rule nesting beyond which only shortest derivations are
                taken, so recursive grammars always end.
        """
        out: list[str] = []
        self._emit(self.rules[rule], rng, out, brevity, max_depth)
        return "".join(out)

    def _shortest_lengths(self) -> dict[str, int]:
        """The shortest derivation's length of every rule (a fixpoint)."""
        lengths = dict.fromkeys(self.rules, 10**9)
        changed = True
        while changed:
            changed = False
            for name, node in self.rules.items():
                size = self._min_length(node, lengths)
                if size < lengths[name]:
                    lengths[name] = size
                    changed = True
        return lengths

    def _min_length(self, node: _Node, lengths: Mapping[str, int]) -> int:  # noqa: PLR0911 - one case per node kind
        match node:
            case _Lit(text):
                return len(text)
            case _Class():
                return 1
            case _Ref(name):
                return lengths[name]
            case _Seq(items):
                return sum(self._min_length(item, lengths) for item in items)
            case _Alt(options):
                return min(self._min_length(option, lengths) for option in options)
            case _Rep(item, low, _):
                return low * self._min_length(item, lengths)
        return 0

    def _shortest_option(self, node: _Alt) -> _Node:
        """The first of ``node``'s options with the shortest derivation, worked out once per node.

        A long sample takes it at every choice past its depth budget, and
        recomputing the lengths there took most of the sampling time.
        """
        key = id(node)  # the rules keep every node alive, so its id stays its own
        if key not in self._shortest_options:
            self._shortest_options[key] = min(
                node.options, key=lambda o: self._min_length(o, self._shortest)
            )
        return self._shortest_options[key]

    def accepts(self, text: str, *, rule: str = "root") -> bool:
        """True if ``text`` as a whole derives from ``rule``."""
        memo: dict[tuple[str, int], frozenset[int]] = {}
        return len(text) in self._match(self.rules[rule], text, 0, memo)

    def _emit(  # noqa: C901 - one case per node kind
        self, node: _Node, rng: random.Random, out: list[str], brevity: float, budget: int
    ) -> None:
        match node:
            case _Lit(text):
                out.append(text)
            case _Class(ranges, negated):
                if negated:
                    allowed = [c for c in _PRINTABLE if node.accepts(c)]
                    out.append(rng.choice(allowed))
                else:
                    low, high = rng.choice(ranges)
                    out.append(chr(rng.randint(ord(low), ord(high))))
            case _Ref(name):
                self._emit(self.rules[name], rng, out, brevity, budget - 1)
            case _Seq(items):
                for item in items:
                    self._emit(item, rng, out, brevity, budget)
            case _Alt(options):
                if budget <= 0 or (brevity and rng.random() < brevity):
                    choice = self._shortest_option(node)
                else:
                    choice = rng.choice(options)
                self._emit(choice, rng, out, brevity, budget)
            case _Rep(item, low, high):
                top = low + _UNBOUNDED_SAMPLE if high is None else high
                short = budget <= 0 or (brevity and rng.random() < brevity)
                count = low if short else rng.randint(low, top)
                for _ in range(count):
                    self._emit(item, rng, out, brevity, budget)

    def _match(  # noqa: C901, PLR0911 - one case per node kind reads best as one match
        self, node: _Node, text: str, pos: int, memo: dict[tuple[str, int], frozenset[int]]
    ) -> frozenset[int]:
        """Every end position of a derivation of ``node`` starting at ``pos``."""
        match node:
            case _Lit(literal):
                return frozenset({pos + len(literal)}) if text.startswith(literal, pos) else (
                    frozenset()
                )
            case _Class():
                ok = pos < len(text) and node.accepts(text[pos])
                return frozenset({pos + 1}) if ok else frozenset()
            case _Ref(name):
                key = (name, pos)
                if key not in memo:
                    memo[key] = frozenset()
                    memo[key] = self._match(self.rules[name], text, pos, memo)
                return memo[key]
            case _Seq(items):
                ends = frozenset({pos})
                for item in items:
                    ends = frozenset().union(*(self._match(item, text, e, memo) for e in ends))
                    if not ends:
                        break
                return ends
            case _Alt(options):
                return frozenset().union(*(self._match(o, text, pos, memo) for o in options))
            case _Rep(item, low, high):
                result: set[int] = {pos} if low == 0 else set()
                ends = frozenset({pos})
                count = 0
                while ends and (high is None or count < high):
                    ends = frozenset().union(*(self._match(item, text, e, memo) for e in ends))
                    count += 1
                    if count >= low:
                        if ends <= result:
                            break
                        result |= ends
                return frozenset(result)
        return frozenset()
