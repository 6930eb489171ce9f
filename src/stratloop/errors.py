"""The one exception tree of stratloop.

Every error carries the offending value and says what to do, so that an
operator never has to read a traceback to fix a configuration::

    StratloopError
    ├── ConfigError                    a configuration value is wrong (field path, value, allowed)
    │   ├── ConfigValidationError      one or more field errors, all reported together
    │   ├── ConfigConflictError        fields that are valid alone but contradict each other
    │   │   └── ConfigConflictsError   several conflicts at once, each in ``.conflicts``
    │   ├── ConfigFileError            the file cannot be read or is not safe YAML
    │   └── FactorTemplateError        a factor template (built-in or the user's file) is invalid
    ├── EnvironmentNotFoundError       an unknown --environment name
    ├── FlagError                      a feature-flag variable has a value that is not a boolean
    │   ├── FlagCombinationError       a combination of flags that is not allowed
    │   └── FlagSourceError            a flags file or flag provider cannot be read or is malformed
    ├── ExpressionError                the strategy DSL (expression, position, token, suggestion)
    │   ├── ExpressionSyntaxError      the text does not parse
    │   ├── ExpressionTypeError        it parses but is ill-typed (arity, windows, lags)
    │   └── ExpressionLimitError       it exceeds the size or depth limits
    ├── SpecError                      a strategy spec is invalid (portfolio rule, exits)
    ├── MutationError                  no valid, different mutation within the attempt bound
    ├── SavedFactorError               the persistent factor library: a bad entry, name or file
    ├── DataError                      a dataset or panel is unusable
    ├── BacktestError                  a backtest cannot be run on the given inputs
    ├── LLMError                       anything that went wrong asking the LLM
    │   ├── LLMUnavailableError        the endpoint cannot be reached or keeps failing
    │   ├── LLMEmptyResponseError      the endpoint answered with nothing usable
    │   ├── LLMGenerationError         the reply held no valid strategy (cause chained)
    │   └── LLMBudgetExhaustedError    the run's token or cost budget is spent
    ├── GenerationError                a generation strategy could not produce a candidate
    │   └── RepeatedCandidateError     every candidate it was asked for repeats a tried one
    ├── EvaluationTimeoutError         a candidate's evaluation ran past loop.eval_timeout_s
    ├── EvaluationWorkerError          a worker process died while evaluating a candidate
    ├── RunError                       a run directory is missing, locked or inconsistent
    │   ├── RunIdError                 a run id from outside that cannot name a run directory
    │   ├── RunNotFoundError           a well-formed run id with no run directory
    │   ├── RunOwnershipError          another process took the run over from this one
    │   └── RunStorageError            a run file could not be written (disk full, read-only)
    ├── PluginError                    an installed entry point (commands, probes) fails to load
    └── AuditError                     the audit trail
        ├── AuditWriteError            a record could not be made durable (disk full, read-only)
        ├── AuditFormatError           a file or line is not a valid audit record
        └── AuditKeyError              the audit key is missing, unreadable, too short or unknown
"""

from __future__ import annotations

from dataclasses import KW_ONLY, Field, dataclass, fields, is_dataclass
from typing import Any

from stratloop.redaction import REDACTED, is_secret_key

__all__ = [
    "AuditError",
    "AuditFormatError",
    "AuditKeyError",
    "AuditWriteError",
    "BacktestError",
    "ConfigConflictError",
    "ConfigConflictsError",
    "ConfigError",
    "ConfigFileError",
    "ConfigIssue",
    "ConfigValidationError",
    "DataError",
    "EnvironmentNotFoundError",
    "EvaluationTimeoutError",
    "EvaluationWorkerError",
    "ExpressionError",
    "ExpressionLimitError",
    "ExpressionSyntaxError",
    "ExpressionTypeError",
    "FactorTemplateError",
    "FlagCombinationError",
    "FlagError",
    "FlagSourceError",
    "GenerationError",
    "LLMBudgetExhaustedError",
    "LLMEmptyResponseError",
    "LLMError",
    "LLMGenerationError",
    "LLMUnavailableError",
    "MutationError",
    "PluginError",
    "RepeatedCandidateError",
    "RunError",
    "RunIdError",
    "RunNotFoundError",
    "RunOwnershipError",
    "RunStorageError",
    "SavedFactorError",
    "SpecError",
    "StratloopError",
]


def _show(value: Any) -> str:
    """Render an offending value for a message: repr, shortened if huge."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class StratloopError(Exception):
    """Base of every error stratloop raises on purpose.

    An error with structured fields is a ``@dataclass(eq=False, repr=False)``
    subclass: the fields are its constructor's arguments and its attributes, and
    its ``_message`` builds the text from them (scientist's
    ``BehaviorMissing(experiment, name)``). ``eq=False`` keeps errors hashable
    and compared by identity; ``repr=False`` keeps ``Error('message')``.
    """

    def __post_init__(self) -> None:
        """Give ``Exception`` the message the fields make, as its only argument."""
        super().__init__(self._message())

    def _message(self) -> str:
        """The text of an error with structured fields: each field and its value.

        Subclasses override it with a sentence that also says what to do.
        """
        named: tuple[Field[Any], ...] = fields(self) if is_dataclass(self) else ()
        return ", ".join(f"{f.name}={_show(getattr(self, f.name))}" for f in named)


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem with one configuration field.

    Args:
        field_path: dotted path of the field, e.g. ``generation.innovation_rate``.
        value: the offending value as it was given.
        allowed: what would have been accepted.
        hint: an optional suggestion, e.g. a "did you mean" correction.
        source: where the value came from (a file, an environment variable).
    """

    field_path: str
    value: Any
    allowed: str
    hint: str | None = None
    source: str | None = None

    @property
    def shown_value(self) -> str:
        """The value as messages show it: its repr, or a redaction under a secret-looking key."""
        return REDACTED if is_secret_key(self.field_path) else _show(self.value)

    def __str__(self) -> str:
        text = f"`{self.field_path}` must be {self.allowed} but got `{self.shown_value}`"
        if self.source:
            text += f" (from {self.source})"
        if self.hint:
            text += f"; {self.hint}"
        return text


class ConfigError(StratloopError):
    """A configuration value is wrong."""


class ConfigValidationError(ConfigError):
    """One or more configuration fields are invalid; all of them are listed."""

    def __init__(self, issues: list[ConfigIssue] | tuple[ConfigIssue, ...]) -> None:
        self.issues = tuple(issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        count = len(self.issues)
        super().__init__(f"invalid configuration ({count} error{'s' * (count != 1)}):\n{lines}")


class ConfigConflictError(ConfigError):
    """Fields that are valid on their own contradict each other."""

    def __init__(self, name: str, fields: dict[str, Any], explanation: str, fix: str) -> None:
        self.name = name
        self.fields = dict(fields)
        self.explanation = explanation
        self.fix = fix
        shown = ", ".join(f"`{path}` = `{_show(value)}`" for path, value in self.fields.items())
        super().__init__(f"configuration conflict '{name}': {shown}: {explanation}. Fix: {fix}")


@dataclass(eq=False, repr=False)
class ConfigFileError(ConfigError):
    """The configuration file cannot be read, or is not plain, safe YAML."""

    path: str
    problem: str
    fix: str

    def _message(self) -> str:
        return f"cannot use configuration file {self.path}: {self.problem}. {self.fix}"


class EnvironmentNotFoundError(StratloopError):
    """An ``--environment`` name that has no ``environments/NAME.yaml``."""

    def __init__(self, name: str, known: list[str] | tuple[str, ...]) -> None:
        self.name = name
        self.known = tuple(known)
        listed = ", ".join(self.known) or "none"
        super().__init__(f"unknown environment {name!r}; known environments: {listed}")


class FlagError(StratloopError):
    """A feature-flag variable holds a value that is not a boolean."""

    def __init__(self, variable: str, value: str, source: str = "environment") -> None:
        self.variable = variable
        self.value = value
        self.source = source
        super().__init__(
            f"feature flag {variable} has value {value!r} (from {source}); "
            "use one of true/false, 1/0, yes/no, on/off (any case), or unset it to enable"
        )


class FlagCombinationError(FlagError):
    """A combination of flags that would break a guarantee (Phase 3 needs Phase 1)."""

    def __init__(self, message: str) -> None:
        StratloopError.__init__(self, message)
        self.variable = ""
        self.value = ""
        self.source = ""


@dataclass(eq=False, repr=False)
class ExpressionError(StratloopError):
    """A strategy expression is not acceptable.

    Args:
        reason: what is wrong.
        expression: the full text that was given.
        position: zero-based character offset of the problem, if known.
        token: the offending token, if any.
        suggestion: a correction ("did you mean ts_mean?"), if any.
    """

    reason: str
    _: KW_ONLY
    expression: str = ""
    position: int | None = None
    token: str | None = None
    suggestion: str | None = None

    def _message(self) -> str:
        text = self.reason
        if self.position is not None:
            text += f" at position {self.position}"
        if self.token is not None:
            text += f" (token {self.token!r})"
        if self.suggestion:
            text += f"; {self.suggestion}"
        if self.expression:
            text += f"\n  {self.expression}"
            if self.position is not None:
                text += "\n  " + " " * self.position + "^"
        return text


class ExpressionSyntaxError(ExpressionError):
    """The expression text does not parse."""


class ExpressionTypeError(ExpressionError):
    """The expression parses but is ill-typed (arity, argument kinds, windows, lags)."""


class ExpressionLimitError(ExpressionError):
    """The expression exceeds the configured size or depth limits."""


class SpecError(StratloopError):
    """A strategy spec (portfolio rule, exits) is invalid."""


class MutationError(StratloopError):
    """No valid mutation that differs from its parent was found within the attempt bound."""


class DataError(StratloopError):
    """A dataset or price panel is unusable; the message names the file and the problem."""


class BacktestError(StratloopError):
    """A backtest cannot be run on the given inputs."""


class LLMError(StratloopError):
    """Base of everything that can go wrong asking the LLM for a strategy."""


class LLMUnavailableError(LLMError):
    """The endpoint cannot be reached, timed out, or kept failing after the retries."""


class LLMEmptyResponseError(LLMError):
    """The endpoint answered, but with no content."""


class LLMGenerationError(LLMError):
    """The reply held no valid strategy spec; the parser's error is chained as the cause."""


class LLMBudgetExhaustedError(LLMError):
    """The run's LLM token or cost budget is spent."""


class GenerationError(StratloopError):
    """A generation strategy could not produce a candidate."""


class RepeatedCandidateError(GenerationError):
    """Every candidate the generator was asked for (``search.repeat_attempts`` + 1) was a repeat."""


class EvaluationTimeoutError(StratloopError):
    """A candidate's evaluation ran past ``loop.eval_timeout_s`` and was stopped."""


class EvaluationWorkerError(StratloopError):
    """A worker process died (a crash, a signal, out of memory) while evaluating a candidate."""


class RunError(StratloopError):
    """A run directory is missing, locked by another process, or inconsistent."""


class RunIdError(RunError):
    """A run id from a URL or the command line that cannot name a run directory."""


class RunNotFoundError(RunError):
    """A well-formed run id with no run directory under the runs directory."""


class RunOwnershipError(RunError):
    """This process no longer owns the run it was writing; it stops without committing more."""


class RunStorageError(RunError):
    """A file of the run directory could not be written; the run stops, resumable.

    Args:
        message: what failed, where, and what to do.
        disk_full: the cause was no space (ENOSPC, EDQUOT, EFBIG), which freeing space fixes.
    """

    def __init__(self, message: str, *, disk_full: bool) -> None:
        super().__init__(message)
        self.disk_full = disk_full


class PluginError(StratloopError):
    """An entry point of one of stratloop's groups failed to load or to register."""


class AuditError(StratloopError):
    """Base of audit-trail errors."""


class AuditWriteError(AuditError):
    """An audit record could not be made durable; the loop stops rather than lose it."""


class AuditFormatError(AuditError):
    """A file or line is not a valid audit record."""


class AuditKeyError(AuditError):
    """The audit trail's HMAC key is missing, unreadable, too short, or not the trail's."""


class FlagSourceError(FlagError):
    """A flags file or flag provider cannot be read, or holds something that is not a flag.

    Args:
        source: the file or provider.
        problem: what is wrong, naming the line, key or value.
        fix: what to do about it.
    """

    def __init__(self, source: str, problem: str, fix: str) -> None:
        StratloopError.__init__(self, f"feature flags from {source}: {problem}. {fix}")
        self.variable = ""
        self.value = ""
        self.source = source
        self.problem = problem
        self.fix = fix


class ConfigConflictsError(ConfigConflictError):
    """Several conflicts found at once; every one is listed and kept in ``.conflicts``."""

    def __init__(
        self, conflicts: list[ConfigConflictError] | tuple[ConfigConflictError, ...]
    ) -> None:
        self.conflicts = tuple(conflicts)
        self.name = ", ".join(c.name for c in self.conflicts)
        self.fields = {k: v for c in self.conflicts for k, v in c.fields.items()}
        self.explanation = "; ".join(c.explanation for c in self.conflicts)
        self.fix = "; ".join(c.fix for c in self.conflicts)
        lines = "\n".join(f"  - {c}" for c in self.conflicts)
        ConfigError.__init__(self, f"{len(self.conflicts)} configuration conflicts:\n{lines}")


@dataclass(eq=False, repr=False)
class FactorTemplateError(ConfigError):
    """A named factor template is invalid: the message names it, its file and the problem."""

    name: str
    source: str
    problem: str

    def _message(self) -> str:
        return f"factor template {self.name!r} ({self.source}): {self.problem}"


@dataclass(eq=False, repr=False)
class SavedFactorError(StratloopError):
    """The persistent factor library cannot be used as asked.

    A corrupt or edited entry, an unknown or taken name, a file that cannot be written.

    Args:
        where: the library directory or the entry's file.
        problem: what is wrong, with the offending value.
        fix: what to do about it.
    """

    where: str
    problem: str
    fix: str

    def _message(self) -> str:
        return f"factor library {self.where}: {self.problem}. {self.fix}"
