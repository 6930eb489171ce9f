"""Tokenizer and Pratt parser: text -> typed expression nodes.

Grammar (lowest precedence first; every infix operator is left-associative)::

    expr    := expr "or" expr | expr "and" expr | "not" expr
             | expr ("<" | "<=" | ">" | ">=" | "==" | "!=") expr
             | expr ("+" | "-") expr | expr ("*" | "/") expr
             | "-" expr | primary
    primary := NUMBER | FIELD | NAME "(" [expr ("," expr)*] ")" | "(" expr ")"
             | "factor" "(" STRING ")"

``factor("name")`` refers to a factor of the persistent library (see
:mod:`stratloop.factors.saved`), resolved while parsing through the
``factors`` given to :func:`parse`; a quoted string is allowed nowhere else.
A minus directly before a number literal is part of the literal. Names are
looked up in the operator table and the field list; nothing is ever
evaluated, executed or imported by name. Size and depth limits are enforced
while parsing, so no input can exhaust the stack.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, Protocol, cast

from stratloop.errors import ExpressionLimitError, ExpressionSyntaxError
from stratloop.factors._suggest import did_you_mean
from stratloop.factors.limits import Limits
from stratloop.factors.nodes import (
    NEG_PRECEDENCE,
    NOT_PRECEDENCE,
    Binary,
    Call,
    Expr,
    Field,
    Neg,
    Not,
    Number,
    Ref,
)
from stratloop.factors.ops import FIELDS, INFIX, OPERATORS

__all__ = [
    "FACTOR_CALL",
    "FACTOR_NAME",
    "FactorReferences",
    "Token",
    "check_factor_name",
    "parse",
    "tokenize",
]

TokenKind = Literal["number", "name", "string", "op", "lparen", "rparen", "comma", "end"]

FACTOR_CALL = "factor"
"""The keyword of a library reference, ``factor("name")``."""

FACTOR_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
"""A library factor's name: a lowercase identifier of at most 64 characters."""


class FactorReferences(Protocol):
    """The named expressions ``factor("name")`` may refer to (a run's library)."""

    @property
    def names(self) -> tuple[str, ...]:
        """Every name that resolves, sorted."""
        ...

    def resolve(self, name: str) -> Expr:
        """The expression ``name`` stands for (``name`` is one of :attr:`names`)."""
        ...


def check_factor_name(name: str) -> str | None:
    """What is wrong with ``name`` as a library factor's name, or None when it is valid."""
    if FACTOR_NAME.fullmatch(name) is None:
        return (
            f"a library factor's name must be a lowercase identifier of at most 64 "
            f"characters ([a-z][a-z0-9_]*) but got {name!r}"
        )
    if name in FIELDS or name in OPERATORS or name == FACTOR_CALL or name in _WORD_OPERATORS:
        return f"{name!r} is a word of the expression language; choose another name"
    return None

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>"[^"\n]*"|'[^'\n]*')
  | (?P<op><=|>=|==|!=|[-+*/<>])
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
    """,
    re.VERBOSE,
)
_WORD_OPERATORS = frozenset({"and", "or", "not"})
_HINTS = {
    "=": "use == to compare",
    "&": "use and",
    "|": "use or",
    "!": "use not (or != to compare)",
    "^": "there is no power operator; multiply, or use sqrt / log",
    "[": "there is no indexing; use delay(x, n)",
}
_MAX_TEXT = 20_000
_SPARE_PARENTHESES = 8
"""Redundant parentheses allowed beyond the depth limit (they add no nodes)."""


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token and where it starts."""

    kind: TokenKind
    text: str
    position: int


def tokenize(text: str) -> list[Token]:
    """Split text into tokens, ending with an ``end`` token."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            raise ExpressionSyntaxError(
                f"unexpected character {char!r}",
                expression=text,
                position=position,
                token=char,
                suggestion=_HINTS.get(char),
            )
        kind = match.lastgroup
        if kind != "space":
            value = match.group()
            if kind == "name" and value in _WORD_OPERATORS:
                kind = "op"
            tokens.append(Token(cast("TokenKind", kind), value, position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    """Pratt parser over a token list with limits on size and depth."""

    def __init__(self, text: str, limits: Limits, factors: FactorReferences | None) -> None:
        self.text = text
        self.limits = limits
        self.factors = factors
        self.tokens = tokenize(text)
        self.index = 0
        self.nodes = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(
        self, message: str, token: Token, suggestion: str | None = None
    ) -> ExpressionSyntaxError:
        return ExpressionSyntaxError(
            message,
            expression=self.text,
            position=token.position,
            token=token.text or "end of input",
            suggestion=suggestion,
        )

    def expect(self, kind: TokenKind, what: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            found = token.text or "end of input"
            raise self.error(f"expected {what} but found {found!r}", token)
        return self.advance()

    def node(self, built: Expr, token: Token) -> Expr:
        """Count a new node (a reference: its body's) and check the limits at its position."""
        self.nodes += built.size if isinstance(built, Ref) else 1
        if self.nodes > self.limits.max_nodes:
            raise self.over_limit(
                f"has more than {self.limits.max_nodes} nodes (generation.max_expression_nodes)",
                token,
                "simplify it",
            )
        if built.depth > self.limits.max_depth:
            raise self.too_deep(token)
        return built

    def too_deep(self, token: Token) -> ExpressionLimitError:
        """The depth-limit error at ``token``."""
        return self.over_limit(
            f"is nested deeper than {self.limits.max_depth} (generation.max_expression_depth)",
            token,
            "flatten it",
        )

    def over_limit(self, what: str, token: Token, fix: str) -> ExpressionLimitError:
        """The expression ``what`` at ``token``; ``fix`` it or raise the limit."""
        return ExpressionLimitError(
            f"expression {what}",
            expression=self.text,
            position=token.position,
            token=token.text,
            suggestion=f"{fix} or raise the limit",
        )

    def expression(self, min_precedence: int, nesting: int) -> Expr:
        if nesting > self.limits.max_depth + _SPARE_PARENTHESES:
            raise self.too_deep(self.peek())
        left = self.prefix(nesting)
        while True:
            token = self.peek()
            infix = INFIX.get(token.text) if token.kind == "op" else None
            if infix is None or infix.precedence < min_precedence:
                return left
            self.advance()
            right = self.expression(infix.precedence + 1, nesting + 1)
            left = self.node(Binary(token.text, left, right), token)

    def prefix_operator(self, token: Token, nesting: int) -> Expr:
        if token.text == "-":
            following = self.peek()
            if following.kind == "number":
                self.advance()
                return self.node(Number(-self.literal(following)), token)
            operand = self.expression(NEG_PRECEDENCE, nesting + 1)
            if isinstance(operand, Number) and operand.value >= 0:
                return self.node(Number(-operand.value), token)
            return self.node(Neg(operand), token)
        if token.text == "not":
            return self.node(Not(self.expression(NOT_PRECEDENCE, nesting + 1)), token)
        raise self.error(f"expected an operand before {token.text!r}", token)

    def prefix(self, nesting: int) -> Expr:
        token = self.advance()
        if token.kind == "op":
            return self.prefix_operator(token, nesting)
        if token.kind == "number":
            return self.node(Number(self.literal(token)), token)
        if token.kind == "lparen":
            inner = self.expression(0, nesting + 1)
            self.expect("rparen", "')'")
            return inner
        if token.kind == "name":
            if token.text == FACTOR_CALL and self.peek().kind == "lparen":
                return self.reference(token)
            return self.call(token, nesting) if self.peek().kind == "lparen" else self.field(token)
        if token.kind == "string":
            raise self.error(
                "a quoted name is only allowed as the argument of factor(...)",
                token,
                'use factor("name") to refer to a library factor',
            )
        found = token.text or "end of input"
        raise self.error(f"expected a number, field, call or '(' but found {found!r}", token)

    def literal(self, token: Token) -> float:
        value = float(token.text)
        if not math.isfinite(value):
            raise self.error("number literal is too large", token)
        return value

    def field(self, token: Token) -> Expr:
        if token.text not in FIELDS:
            known = [*FIELDS, *OPERATORS]
            raise self.error(f"unknown name {token.text!r}", token, did_you_mean(token.text, known))
        return self.node(Field(token.text), token)

    def reference(self, token: Token) -> Expr:
        """``factor("name")``: the library factor ``name``, resolved through ``factors``."""
        self.advance()
        quoted = self.peek()
        if quoted.kind != "string":
            found = quoted.text or "end of input"
            raise self.error(
                f'factor takes one quoted name, e.g. factor("my_factor"), but found {found!r}',
                quoted,
            )
        self.advance()
        self.expect("rparen", "')' after factor's name")
        name = quoted.text[1:-1]
        problem = check_factor_name(name)
        if problem is not None:
            raise self.error(problem, quoted)
        if self.factors is None or not self.factors.names:
            raise self.error(
                f"factor({quoted.text}) refers to the persistent factor library, which is "
                "empty or not in use here",
                quoted,
                "set library.path to a library that holds it (stratloop library list)",
            )
        known = self.factors.names
        if name not in known:
            hint = did_you_mean(name, known)
            listed = f"known: {', '.join(known)}"
            raise self.error(
                f"unknown library factor {name!r}",
                quoted,
                f"{hint}; {listed}" if hint else listed,
            )
        return self.node(Ref(name, self.factors.resolve(name)), token)

    def call(self, token: Token, nesting: int) -> Expr:
        if token.text not in OPERATORS:
            raise self.error(
                f"unknown function {token.text!r}", token, did_you_mean(token.text, OPERATORS)
            )
        self.advance()
        args: list[Expr] = []
        if self.peek().kind != "rparen":
            args.append(self.expression(0, nesting + 1))
            while self.peek().kind == "comma":
                self.advance()
                args.append(self.expression(0, nesting + 1))
        self.expect("rparen", "',' or ')'")
        return self.node(Call(token.text, tuple(args)), token)


def parse(
    text: str, *, limits: Limits | None = None, factors: FactorReferences | None = None
) -> Expr:
    """Parse DSL text into an expression tree (syntax and limits only; see ``typecheck``).

    Args:
        text: the expression, e.g. ``rank(ts_mean(returns, 20))``.
        limits: size and depth bounds; the defaults when omitted. A
            ``factor("name")`` counts as its expression's nodes and depth.
        factors: what ``factor("name")`` refers to; without it, such a
            reference is a syntax error.

    Raises:
        ExpressionSyntaxError: the text does not parse; the message has the
            position, the token and, for misspelt names, a suggestion.
        ExpressionLimitError: the expression is too large or too deep.

    >>> str(parse("rank( ts_mean(returns,20) )-1"))
    'rank(ts_mean(returns, 20)) - 1'
    """
    bounds = limits or Limits()
    if len(text) > _MAX_TEXT:
        raise ExpressionLimitError(
            f"expression text is longer than {_MAX_TEXT} characters", token=text[:20]
        )
    parser = _Parser(text, bounds, factors)
    if parser.peek().kind == "end":
        raise ExpressionSyntaxError("the expression is empty", expression=text, position=0)
    tree = parser.expression(0, 1)
    end = parser.peek()
    if end.kind != "end":
        raise parser.error(f"unexpected {end.text!r} after a complete expression", end)
    return tree
