"""The typed record of one iteration: the loop's currency from commit to audit line.

The loop builds one :class:`IterationRecord` per iteration. The history line
(:meth:`IterationRecord.to_json`), the audit record, the loop's counters, the
service's tally and the health checks are all projections of it; nothing
downstream reads a loose dict. :meth:`IterationRecord.from_json` reads every
history line stratloop has written: schema 3 records the train block, the
validation folds (aggregate and per fold) and no holdout figure; schema 2
recorded ``train`` and ``test`` metrics of one split and named the iteration
``iteration_num`` (as the audit trail does); schema 1 (no
``schema_version``) named it ``iteration``. The ``test`` metrics of schema 1
and 2 lines are kept as read (:attr:`IterationRecord.test`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, TypeVar, cast

from pydantic import ValidationError

from stratloop._json import jsonable
from stratloop.errors import RunError
from stratloop.generation.decision import Decision
from stratloop.generation.outcome import Fallback, GenerationOutcome, Repeat
from stratloop.llm.budget import Usage
from stratloop.llm.calls import LLMCall
from stratloop.redaction import redact_text
from stratloop.spec import Candidate, Lineage, Strategy

__all__ = [
    "HISTORY_SCHEMA",
    "IterationRecord",
    "Metrics",
    "Migration",
    "Objective",
    "Redundancy",
    "StageError",
    "Status",
    "Timings",
    "candidate_from_json",
    "candidate_json",
    "fields_json",
]

HISTORY_SCHEMA = 3
"""Version of the history line: 3 has ``validation`` and ``folds`` instead of 2's ``test``;
1 was the unversioned line that said ``iteration``."""

_READABLE = (1, 2, HISTORY_SCHEMA)
"""History schemas this version reads."""

Status: TypeAlias = Literal[
    "evaluated",
    "generation_failed",
    "validation_failed",
    "evaluation_failed",
    "evaluation_timeout",
    "exhausted",
    "redundant",
]
"""How far an iteration got. ``exhausted``: every candidate its generator was asked for
repeated a tried one, so nothing was evaluated; ``redundant``: its signal nearly duplicates
an evaluated candidate's, so it does not count as a new trial."""

_VOLATILE = ("timestamp", "timings")
"""Keys that differ between two runs of the same seed and configuration (and each LLM
call's ``latency_s``)."""

_IMPLEMENTATION = ("implementation", "strategy_selected", "flags")
"""Keys that name the code path; they differ between implementations by design."""

Stage: TypeAlias = Literal["generation", "validation", "evaluation"]

Metrics: TypeAlias = Mapping[str, Any]
"""One period's metrics: finite numbers, counts as ints, None where undefined."""



@dataclass(frozen=True, slots=True)
class StageError:
    """Why an iteration stopped: the stage, the error class and its message."""

    stage: Stage
    type: str
    message: str


@dataclass(frozen=True, slots=True)
class Redundancy:
    """Why a candidate is not a new trial: the evaluated one its signal nearly duplicates.

    Args:
        of_iteration: the evaluated candidate's iteration (None for a library factor).
        correlation: the rank correlation of the two signals' fingerprints (train window).
        threshold: ``search.max_signal_correlation`` when it was decided (for a
            library factor, ``library.max_correlation``).
        library_factor: the persistent library's factor it nearly duplicates, if
            that is what it duplicates.
    """

    of_iteration: int | None
    correlation: float
    threshold: float
    library_factor: str | None = None

    def describe(self) -> str:
        """What it duplicates, in words: ``iteration 12's`` or ``library factor f_ab12's``."""
        if self.library_factor is not None:
            return f"library factor {self.library_factor}'s"
        return f"iteration {self.of_iteration}'s"

    @property
    def setting(self) -> str:
        """The configuration field whose threshold it is above."""
        if self.library_factor is not None:
            return "library.max_correlation"
        return "search.max_signal_correlation"


@dataclass(frozen=True, slots=True)
class Objective:
    """The champion rule's figure under ``search.complexity_penalty``: ``raw - penalty``.

    Recorded only when a penalty is configured, so a run without one writes the
    same history as before the penalty existed.

    Args:
        metric: ``loop.champion_metric``.
        raw: its validation value, or None when the candidate is not eligible.
        nodes: the expression's node count.
        constants: its free constants (numbers that are not a window or lag).
        penalty: ``per_node * nodes + per_constant * constants``.
        score: ``raw - penalty``, what the champion rule compares (None: not eligible).
    """

    metric: str
    raw: float | None
    nodes: int
    constants: int
    penalty: float
    score: float | None


@dataclass(frozen=True, slots=True)
class Migration:
    """One island's champion offered to the next island on the ring (``search.islands``).

    Args:
        source: the island that sent its champion.
        target: the island offered it (``(source + 1) mod islands``).
        iteration: the iteration whose candidate the champion is.
        score: its validation score (``loop.champion_metric``).
        adopted: whether it replaced the target's champion (it scored strictly higher).
    """

    source: int
    target: int
    iteration: int
    score: float
    adopted: bool


@dataclass(frozen=True, slots=True)
class Timings:
    """Seconds spent per stage; ``evaluate_s`` is None when nothing was evaluated."""

    generate_s: float
    validate_s: float
    evaluate_s: float | None = None


_D = TypeVar("_D", Decision, Migration, Objective, Redundancy, StageError)

_KEYS: Mapping[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls))
    for cls in (Decision, Fallback, Migration, Objective, Redundancy, StageError, Timings)
}
"""Field names of the dataclasses a history line (and an audit body) holds as JSON objects."""


def fields_json(
    value: Decision | Fallback | Migration | Objective | Redundancy | StageError | Timings,
) -> dict[str, Any]:
    """One of the record's small dataclasses as a JSON object, key for field."""
    return {key: getattr(value, key) for key in _KEYS[type(value)]}


def candidate_json(candidate: Candidate) -> dict[str, Any]:
    """The JSON form of a candidate in history lines, ``champion.json`` and shadow logs."""
    return {
        "id": candidate.candidate_id,
        "method": candidate.method,
        "spec": candidate.strategy.model_dump(mode="json"),
        "lineage": {
            "parents": list(candidate.lineage.parents),
            "operator": candidate.lineage.operator,
            "params": jsonable(candidate.lineage.params),
        },
    }


def candidate_from_json(data: Mapping[str, Any]) -> Candidate:
    """The :class:`~stratloop.spec.Candidate` that :func:`candidate_json` wrote."""
    lineage = data.get("lineage") or {}
    return Candidate(
        strategy=Strategy.model_validate(data["spec"], strict=False),
        method=data["method"],
        lineage=Lineage(
            parents=tuple(lineage.get("parents", ())),
            operator=lineage.get("operator", "seed"),
            params=dict(lineage.get("params", {})),
        ),
    )


def _normalised(candidate: Candidate | None) -> Candidate | None:
    """The candidate as it reads back from JSON (lineage params as JSON data)."""
    if candidate is None:
        return None
    params = jsonable(candidate.lineage.params)
    if params == candidate.lineage.params:
        return candidate
    return replace(candidate, lineage=replace(candidate.lineage, params=params))


_METRIC_DIGITS = 6
"""Significant digits a metric keeps in the record (reports show 3-4; 17 were noise on disk)."""

_TIMING_DECIMALS = 6
"""Decimals of a stage's seconds: one microsecond, below any timer's meaning here."""


def _significant(value: Any) -> Any:
    """``value`` (JSON data) with every float cut to :data:`_METRIC_DIGITS` significant digits.

    A float with 17 digits costs about 8 bytes of entropy on disk even
    compressed; the metrics mean nothing past the sixth digit (they are
    estimates from a few thousand days), so the record keeps six. The cut is
    made when the record is built, so the live loop, a resumed run and every
    projection read the same numbers.
    """
    if isinstance(value, float):
        return float(f"{value:.{_METRIC_DIGITS}g}")
    if isinstance(value, Mapping):
        return {key: _significant(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_significant(item) for item in value]
    return value


def _metrics(metrics: Mapping[str, Any] | None) -> Metrics | None:
    return None if metrics is None else MappingProxyType(_significant(jsonable(metrics)))


def _timings(timings: Timings) -> Timings:
    """``timings`` to the microsecond (see :data:`_TIMING_DECIMALS`)."""
    evaluate = timings.evaluate_s
    return Timings(
        generate_s=round(timings.generate_s, _TIMING_DECIMALS),
        validate_s=round(timings.validate_s, _TIMING_DECIMALS),
        evaluate_s=None if evaluate is None else round(evaluate, _TIMING_DECIMALS),
    )


@dataclass(frozen=True, slots=True)
class IterationRecord:
    """One committed iteration: what was decided, produced, measured and kept.

    Args:
        iteration_num: the iteration number, from 0.
        batch: the batch number (``iteration_num // loop.batch_size``).
        timestamp: when generation started (UTC, ISO 8601).
        flags: the flags in force (``Flags.as_dict()``).
        outcome: the generation outcome (decision, selection, candidate, fallback).
        status: how far the iteration got.
        error: why it stopped short of an evaluation, if it did.
        train: train-block metrics when evaluated (what the search's feedback reads).
        validation: the validation folds' aggregate metrics (what selection reads).
        folds: each validation fold's metrics, oldest first.
        test: the test-period metrics of a schema 1 or 2 line (None in schema 3:
            the loop never evaluates the holdout).
        champion: whether the candidate became the champion.
        audited: whether Phase 4 was in force (the iteration has an audit record).
        budget_mode: ``factor_graph_only`` once the LLM budget is spent and
            the run goes on without it (a configured, recorded decision).
        llm_usage: the tokens and cost this iteration's generation spent, if any.
        timings: seconds per stage.
        redundancy: for a ``redundant`` iteration, the candidate it nearly duplicates.
        fingerprint: the evaluated signal's fingerprint (see
            :mod:`stratloop.factors.fingerprint`), kept so that a resumed run
            compares new candidates with every evaluated one.
        llm_calls: one record per LLM call the iteration made (model, latency,
            tokens, cost, finish reason, a rejected reply's bounded text).
        objective: the raw and the penalised champion figure, when
            ``search.complexity_penalty`` is configured.
        island: the island the iteration belongs to (``iteration_num mod
            search.islands``); None with one island, whose lines do not say it.
        migrations: the migrations made after this iteration was committed
            (every ``search.migration_interval`` iterations, with islands).
    """

    iteration_num: int
    batch: int
    timestamp: str
    flags: Mapping[str, Any]
    outcome: GenerationOutcome
    status: Status
    timings: Timings
    error: StageError | None = None
    train: Metrics | None = None
    validation: Metrics | None = None
    folds: tuple[Metrics, ...] = ()
    test: Metrics | None = None
    champion: bool = False
    audited: bool = False
    budget_mode: str | None = None
    llm_usage: Usage | None = None
    redundancy: Redundancy | None = None
    fingerprint: str | None = None
    llm_calls: tuple[LLMCall, ...] = ()
    objective: Objective | None = None
    island: int | None = None
    migrations: tuple[Migration, ...] = ()

    def __post_init__(self) -> None:
        if (self.status == "redundant") != (self.redundancy is not None):
            raise ValueError(
                f"iteration {self.iteration_num} is {self.status!r} with redundancy "
                f"{self.redundancy}; exactly the redundant iterations name what they duplicate"
            )
        if self.status in ("evaluated", "redundant"):
            if self.outcome.candidate is None or self.error is not None:
                raise ValueError(
                    f"iteration {self.iteration_num} is {self.status!r} but has no candidate or "
                    "has an error; an evaluated iteration has a candidate and no error"
                )
        elif self.error is None:
            raise ValueError(
                f"iteration {self.iteration_num} is {self.status!r} but records no error; "
                "an iteration that stopped short says why"
            )

    @classmethod
    def build(
        cls,
        *,
        iteration_num: int,
        batch: int,
        timestamp: str,
        flags: Mapping[str, Any],
        outcome: GenerationOutcome,
        status: Status,
        timings: Timings,
        error: StageError | None = None,
        train: Mapping[str, Any] | None = None,
        validation: Mapping[str, Any] | None = None,
        folds: tuple[Mapping[str, Any], ...] = (),
        audited: bool = False,
        budget_mode: str | None = None,
        llm_usage: Usage | None = None,
        redundancy: Redundancy | None = None,
        fingerprint: str | None = None,
        llm_calls: tuple[LLMCall, ...] = (),
        objective: Objective | None = None,
    ) -> IterationRecord:
        """A record whose values are exactly what its history line reads back as.

        Metrics lose non-finite numbers (JSON has none) and digits past the
        sixth significant one, timings past the microsecond; the candidate's
        lineage parameters become JSON data, so the live loop and a resumed one
        see the same record; error messages lose any credential
        (:func:`~stratloop.redaction.redact_text`), so neither the history nor
        the audit trail, where nothing can be removed, ever holds one.
        """
        candidate = _normalised(outcome.candidate)
        if candidate is not outcome.candidate:
            outcome = replace(outcome, candidate=candidate)
        if outcome.repeats:
            repeats = tuple(
                replace(r, candidate=_normalised(r.candidate) or r.candidate)
                for r in outcome.repeats
            )
            outcome = replace(outcome, repeats=repeats)
        if outcome.error_message:
            outcome = replace(outcome, error_message=redact_text(outcome.error_message))
        if error is not None:
            error = replace(error, message=redact_text(error.message))
        return cls(
            iteration_num=iteration_num,
            batch=batch,
            timestamp=timestamp,
            flags=MappingProxyType(jsonable(flags)),
            outcome=outcome,
            status=status,
            timings=_timings(timings),
            error=error,
            train=_metrics(train),
            validation=_metrics(validation),
            folds=tuple(_metrics(fold) or MappingProxyType({}) for fold in folds),
            audited=audited,
            budget_mode=budget_mode,
            llm_usage=llm_usage,
            redundancy=redundancy,
            fingerprint=fingerprint,
            llm_calls=tuple(llm_calls),
            objective=objective,
        )

    @property
    def candidate(self) -> Candidate | None:
        """The candidate generation produced, if any."""
        return self.outcome.candidate

    @property
    def decision(self) -> Decision:
        """The decision the rule made, with its draw."""
        return self.outcome.decision

    @property
    def evaluated(self) -> bool:
        """True when the candidate was backtested and has metrics."""
        return self.status == "evaluated"

    @property
    def selection(self) -> Metrics | None:
        """The metrics the champion rule reads: validation, or train for a schema 1-2 line.

        Schema 1 and 2 runs chose their champion on the train period; a resumed
        run replays them under the rule they were written with.
        """
        return self.validation if self.validation is not None else self.train

    @property
    def method(self) -> str:
        """The generator that ran, or the one decided when none produced a candidate."""
        return self.outcome.method_used or self.outcome.decision.method

    def with_champion(self, champion: bool) -> IterationRecord:
        """This record with the champion rule's verdict."""
        return self if champion == self.champion else replace(self, champion=champion)

    def with_islands(
        self, island: int | None, migrations: tuple[Migration, ...]
    ) -> IterationRecord:
        """This record with its island and the migrations that followed it."""
        if island == self.island and migrations == self.migrations:
            return self
        return replace(self, island=island, migrations=migrations)

    def as_dict(self) -> dict[str, Any]:
        """The history line's content, key for key."""
        outcome = self.outcome
        fallback = outcome.fallback
        error = self.error
        usage = self.llm_usage
        calls: dict[str, Any] = (
            {"llm_calls": [call.to_json() for call in self.llm_calls]} if self.llm_calls else {}
        )
        if self.objective is not None:
            calls["objective"] = fields_json(self.objective)
        islands: dict[str, Any] = {} if self.island is None else {"island": self.island}
        if self.migrations:
            islands["migrations"] = [fields_json(m) for m in self.migrations]
        return {
            "schema_version": HISTORY_SCHEMA,
            "iteration_num": self.iteration_num,
            "batch": self.batch,
            "timestamp": self.timestamp,
            "flags": dict(self.flags),
            "implementation": outcome.implementation,
            "decision": fields_json(outcome.decision),
            "strategy_selected": outcome.strategy_selected,
            "method_used": outcome.method_used,
            "fallback": None if fallback is None else fields_json(fallback),
            "generation_error": None
            if outcome.error_type is None
            else {"type": outcome.error_type, "message": outcome.error_message or ""},
            "candidate": None if outcome.candidate is None else candidate_json(outcome.candidate),
            "status": self.status,
            "error": None if error is None else fields_json(error),
            "train": None if self.train is None else dict(self.train),
            "validation": None if self.validation is None else dict(self.validation),
            "folds": [dict(fold) for fold in self.folds],
            "champion": self.champion,
            "audited": self.audited,
            "budget_mode": self.budget_mode,
            "llm_usage": None
            if usage is None
            else {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "tokens": usage.tokens,
                "cost": usage.cost,
                "calls": usage.calls,
            },
            "timings": fields_json(self.timings),
            "repeats": [
                {"of_iteration": r.of_iteration, "candidate": candidate_json(r.candidate)}
                for r in outcome.repeats
            ],
            "redundancy": None if self.redundancy is None else fields_json(self.redundancy),
            "fingerprint": self.fingerprint,
            **calls,
            **islands,
        }

    def comparable(self, *, across_implementations: bool = False) -> dict[str, Any]:
        """The record without what legitimately differs between equivalent runs.

        Args:
            across_implementations: also drop what names the code path, to
                compare the procedural and strategy-pattern paths.
        """
        dropped = _VOLATILE + (_IMPLEMENTATION if across_implementations else ())
        kept = {key: value for key, value in self.as_dict().items() if key not in dropped}
        if "llm_calls" in kept:
            kept["llm_calls"] = [
                {key: value for key, value in call.items() if key != "latency_s"}
                for call in kept["llm_calls"]
            ]
        return kept

    def to_json(self) -> str:
        """One history line (no newline): compact, key-sorted, strict JSON (no NaN)."""
        return json.dumps(
            self.as_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False
        )

    @classmethod
    def from_json(cls, line: str | bytes) -> IterationRecord:
        """Read one history line, of this schema or the unversioned one before it.

        Raises:
            RunError: the line is not JSON, not a history record, or lacks a
                key every record has (the message names it).
        """
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise RunError(f"a history line is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise RunError(f"a history line must be a JSON object, got {type(data).__name__}")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IterationRecord:
        """The record a parsed history line describes (see :meth:`from_json`)."""
        version = data.get("schema_version", 1)
        if version not in _READABLE:
            raise RunError(
                f"history schema_version {version!r} is not one this stratloop reads "
                f"({', '.join(map(str, _READABLE))}); upgrade stratloop to read this run"
            )
        key = "iteration" if version == 1 else "iteration_num"
        where = f"history record {data.get(key, '?')}"
        try:
            return _parse(data, key, version)
        except KeyError as exc:
            raise RunError(
                f"{where} lacks the key {exc.args[0]!r} every record has; the line was "
                "edited or is not a stratloop history record"
            ) from exc
        except (TypeError, ValueError, ValidationError) as exc:
            raise RunError(f"{where} is malformed: {exc}") from exc


def _parse(data: Mapping[str, Any], key: str, version: int) -> IterationRecord:
    decision = data["decision"]
    fallback = data["fallback"]
    generation_error = data["generation_error"] or {}
    candidate = data["candidate"]
    error = data["error"]
    usage = data["llm_usage"]
    timings = data["timings"]
    outcome = GenerationOutcome(
        implementation=data["implementation"],
        decision=_from_fields(Decision, decision),
        strategy_selected=data["strategy_selected"],
        method_used=data["method_used"],
        candidate=None if candidate is None else candidate_from_json(candidate),
        fallback=None if fallback is None else Fallback(**fallback),
        error_type=generation_error.get("type"),
        error_message=generation_error.get("message"),
        repeats=tuple(
            Repeat(candidate_from_json(r["candidate"]), _int(r["of_iteration"], "of_iteration"))
            for r in data.get("repeats") or ()
        ),
    )
    redundancy = data.get("redundancy")
    objective = data.get("objective")
    return IterationRecord(
        iteration_num=_int(data[key], key),
        batch=_int(data["batch"], "batch"),
        timestamp=str(data["timestamp"]),
        flags=MappingProxyType(dict(data["flags"])),
        outcome=outcome,
        status=cast("Status", data["status"]),
        timings=Timings(
            generate_s=timings["generate_s"],
            validate_s=timings["validate_s"],
            evaluate_s=timings.get("evaluate_s"),
        ),
        error=None if error is None else _from_fields(StageError, error),
        train=_read_metrics(data["train"]),
        validation=_read_metrics(data["validation"]) if version >= 3 else None,
        folds=tuple(MappingProxyType(dict(fold)) for fold in data["folds"])
        if version >= 3
        else (),
        test=None if version >= 3 else _read_metrics(data["test"]),
        champion=bool(data["champion"]),
        audited=bool(data["audited"]),
        budget_mode=data["budget_mode"],
        llm_usage=None
        if usage is None
        else Usage(
            prompt_tokens=int(usage["prompt_tokens"]),
            completion_tokens=int(usage["completion_tokens"]),
            cost=float(usage["cost"]),
            calls=int(usage["calls"]),
        ),
        redundancy=None if redundancy is None else _redundancy(redundancy),
        fingerprint=data.get("fingerprint"),
        llm_calls=tuple(LLMCall.from_json(call) for call in data.get("llm_calls", ())),
        objective=None if objective is None else _from_fields(Objective, objective),
        island=None if data.get("island") is None else _int(data["island"], "island"),
        migrations=tuple(_from_fields(Migration, m) for m in data.get("migrations", ())),
    )


def _read_metrics(data: Mapping[str, Any] | None) -> Metrics | None:
    return None if data is None else MappingProxyType(dict(data))


def _redundancy(data: Mapping[str, Any]) -> Redundancy:
    """A record's redundancy; ``library_factor`` is absent from lines written before it existed."""
    return Redundancy(
        of_iteration=data["of_iteration"],
        correlation=data["correlation"],
        threshold=data["threshold"],
        library_factor=data.get("library_factor"),
    )


def _from_fields(cls: type[_D], data: Mapping[str, Any]) -> _D:
    """The inverse of :func:`fields_json`; a missing key raises ``KeyError``."""
    return cls(**{key: data[key] for key in _KEYS[cls]})


def _int(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} must be an integer, got {value!r}")
    return value
