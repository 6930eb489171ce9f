"""The error tree: errors with structured fields keep them and build their message."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pytest

from stratloop.errors import (
    ConfigError,
    ConfigFileError,
    ExpressionError,
    ExpressionSyntaxError,
    FactorTemplateError,
    SavedFactorError,
    StratloopError,
)


class TestStructuredErrors:
    def test_fields_are_attributes_and_the_message_is_built_from_them(self) -> None:
        """The constructor's arguments stay readable and make the one message argument."""
        error = ConfigFileError("run.yaml", "not YAML", "fix it")
        assert (error.path, error.problem, error.fix) == ("run.yaml", "not YAML", "fix it")
        assert error.args == ("cannot use configuration file run.yaml: not YAML. fix it",)
        assert isinstance(error, ConfigError)

    @pytest.mark.parametrize(
        ("error", "message"),
        [
            (FactorTemplateError("mom", "library", "bad"), "factor template 'mom' (library): bad"),
            (SavedFactorError("lib", "no entry", "add it"), "factor library lib: no entry. add it"),
        ],
    )
    def test_each_class_words_its_own_message(self, error: StratloopError, message: str) -> None:
        """The text is the class's wording of its fields."""
        assert str(error) == message

    def test_a_class_without_its_own_wording_names_each_field_and_value(self) -> None:
        """The base message lists the fields, so a structured error is never without text."""

        @dataclass(eq=False, repr=False)
        class BareError(StratloopError):
            path: str
            size: int

        assert str(BareError("runs/a", 3)) == "path='runs/a', size=3"

    def test_errors_compare_by_identity_and_show_their_message(self) -> None:
        """Two equal-looking errors are two errors; repr is the usual Error('message')."""
        first = SavedFactorError("lib", "p", "f")
        second = SavedFactorError("lib", "p", "f")
        assert first != second
        assert len({first, second}) == 2
        assert repr(first) == "SavedFactorError('factor library lib: p. f')"

    def test_expression_errors_point_at_the_problem(self) -> None:
        """Position, token and suggestion are appended, with a caret under the position."""
        error = ExpressionSyntaxError(
            "unexpected token",
            expression="close +",
            position=6,
            token="+",  # noqa: S106 - a DSL token, not a secret
            suggestion="drop it",
        )
        assert error.reason == "unexpected token"
        assert str(error) == (
            "unexpected token at position 6 (token '+'); drop it\n  close +\n        ^"
        )

    def test_expression_errors_survive_pickling(self) -> None:
        """An expression error crosses a process boundary with its fields and message."""
        error = ExpressionError("bad", expression="x", position=0)
        copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - bytes this test just made
        assert (str(copy), copy.reason, copy.position) == (str(error), "bad", 0)
