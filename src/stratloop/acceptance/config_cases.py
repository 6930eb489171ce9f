"""The deployment guide's Phase 2 configuration cases, run through the real loader.

Each case takes the environment's configuration document as its base,
changes what the case is about, validates it on both paths (Phase 2 Pydantic
and Phase 1 dict validator) and compares the verdicts with the expectation.
The cases are data: a name, the change, and for a rejection the text its
error must contain. ``stratloop check ...`` renders the results.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from stratloop.config.dict_validator import validate_dict
from stratloop.config.legacy import StratloopDeprecationWarning
from stratloop.config.loader import validate_config
from stratloop.config.models import GenerationConfig, StratloopConfig
from stratloop.config.snapshot import config_hash
from stratloop.errors import ConfigError
from stratloop.flags import Flags

__all__ = [
    "DICT_PATH",
    "PYDANTIC_PATH",
    "CaseResult",
    "backward_compatibility_checks",
    "edge_case_checks",
    "validation_checks",
]

PYDANTIC_PATH = Flags(source="check: Phase 2 path")
"""The flags that validate through the Phase 2 Pydantic models."""
DICT_PATH = Flags(phase2=False, phase3=False, phase4=False, source="check: Phase 1 path")
"""The flags that validate through the Phase 1 dict validator."""
_LOCAL_LLM = {"enabled": True, "base_url": "http://127.0.0.1:11434/v1", "model": "check-model"}
_RATE = "generation.innovation_rate"
_USE_FG = "generation.use_factor_graph"


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case's outcome on both validation paths.

    Args:
        name: what was checked.
        expected: the verdict the guide expects.
        observed: what the Phase 2 path did, and the Phase 1 path where it differs.
        passed: both paths behaved as expected.
        detail: the message a user would see, or why the check failed.
    """

    name: str
    expected: str
    observed: str
    passed: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, key for field."""
        return asdict(self)


Mutation = Callable[[dict[str, Any]], None]


def _set(**values: Any) -> Mutation:
    """Set dotted paths (``generation__innovation_rate=5``); ensure an LLM when one is required."""

    def mutate(doc: dict[str, Any]) -> None:
        for key, value in values.items():
            section, field = key.split("__")
            doc.setdefault(section, {})[field] = value
        gen = doc.get("generation", {})
        needs_llm = gen.get("use_factor_graph") is False or (
            gen.get("use_factor_graph") is None and gen.get("innovation_rate") not in (0, None)
        )
        llm = doc.setdefault("llm", {}) if needs_llm else None
        if isinstance(llm, dict):
            for key, value in _LOCAL_LLM.items():
                if not llm.get(key):
                    llm[key] = value

    return mutate


def _top(key: str, value: Any) -> Mutation:
    """Set a top-level key as written (no LLM is added)."""

    def mutate(doc: dict[str, Any]) -> None:
        doc[key] = value

    return mutate


def _drop(section: str, field: str | None = None) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        if field is None:
            doc.pop(section, None)
        else:
            doc.get(section, {}).pop(field, None)

    return mutate


def _rate(rate: float) -> Mutation:
    """``use_factor_graph: null`` with the given innovation rate."""
    return _set(generation__use_factor_graph=None, generation__innovation_rate=rate)


Case = tuple[str, Mutation, str | None]
"""A case: its name, the change to the base, and None (accepted) or what its error must name."""

_VALID: tuple[Case, ...] = (
    ("innovation_rate = 0 (minimum)", _rate(0), None),
    ("innovation_rate = 100 (maximum)", _rate(100), None),
    ("innovation_rate = 50 (mid-range)", _rate(50), None),
    (
        "use_factor_graph = True",
        _set(generation__use_factor_graph=True, generation__innovation_rate=0),
        None,
    ),
    (
        "use_factor_graph = False",
        _set(generation__use_factor_graph=False, generation__innovation_rate=0),
        None,
    ),
    ("use_factor_graph = None", _rate(20), None),
    ("all required fields present (the environment's file)", lambda _d: None, None),
    ("innovation_rate = 12.5 (float)", _rate(12.5), None),
    (
        "on_llm_failure = fallback_to_factor_graph",
        _set(generation__on_llm_failure="fallback_to_factor_graph"),
        None,
    ),
)

_INVALID: tuple[Case, ...] = (
    ("innovation_rate = -10 (out of range)", _set(generation__innovation_rate=-10), _RATE),
    ("innovation_rate = 150 (out of range)", _set(generation__innovation_rate=150), _RATE),
    (
        'innovation_rate = "invalid" (wrong type)',
        _set(generation__innovation_rate="invalid"),
        "'invalid'",
    ),
    (
        'use_factor_graph = "true" (string, not bool)',
        _set(generation__use_factor_graph="true"),
        _USE_FG,
    ),
    ("missing generation.use_factor_graph", _drop("generation", "use_factor_graph"), _USE_FG),
    ("missing generation.innovation_rate", _drop("generation", "innovation_rate"), _RATE),
    ("missing version", _drop("version"), "version"),
    ("innovation_rate = NaN", _set(generation__innovation_rate=math.nan), _RATE),
    ("innovation_rate = infinity", _set(generation__innovation_rate=math.inf), _RATE),
    (
        "innovation_rate = true (bool is not a number)",
        _set(generation__innovation_rate=True),
        _RATE,
    ),
    ('innovation_rate = "50" (string number)', _set(generation__innovation_rate="50"), "'50'"),
    ("typo inovation_rate (unknown key)", _set(generation__inovation_rate=20), "did you mean"),
    (
        "conflict: use_factor_graph true + innovation_rate 100",
        _set(generation__use_factor_graph=True, generation__innovation_rate=100),
        "factor_graph_with_full_innovation",
    ),
    (
        "on_llm_failure = ignore (not allowed)",
        _set(generation__on_llm_failure="ignore"),
        "generation.on_llm_failure",
    ),
)

_EDGE: tuple[Case, ...] = (
    ("innovation_rate exactly 0", _rate(0), None),
    ("innovation_rate exactly 100", _rate(100), None),
    (
        "innovation_rate just above 100 (100.000001)",
        _set(generation__innovation_rate=100.000001),
        _RATE,
    ),
    (
        "innovation_rate just below 0 (-0.000001)",
        _set(generation__innovation_rate=-0.000001),
        _RATE,
    ),
    ("optional llm.max_tokens_per_run = None", _set(llm__max_tokens_per_run=None), None),
    (
        "optional data.start_date / end_date = None",
        _set(data__start_date=None, data__end_date=None),
        None,
    ),
    ("optional generation.user_factors = None", _set(generation__user_factors=None), None),
    ("required-but-nullable use_factor_graph = None", _rate(0), None),
    (
        "extra top-level field is rejected (did you mean)",
        _set(lm__enabled=True),
        "did you mean `llm`",
    ),
    (
        "extra section field is rejected (did you mean)",
        _set(loop__iteration=10),
        "did you mean `loop.iterations`",
    ),
    ("int for a float field (innovation_rate = 50)", _rate(50), None),
    (
        "float for an int field (loop.iterations = 10.0)",
        _set(loop__iterations=10.0),
        "loop.iterations",
    ),
    ("bool for an int field (loop.workers = true)", _set(loop__workers=True), "loop.workers"),
    ("version = 1.0 (not the integer 1)", _top("version", 1.0), "version"),
    (
        "string for a date (data.start_date = '2020-01-01')",
        _set(data__start_date="2020-01-01"),
        "data.start_date",
    ),
)


def _outcome(doc: dict[str, Any], flags: Flags) -> tuple[bool, str, StratloopConfig | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StratloopDeprecationWarning)
            config = validate_config(doc, flags=flags, source="check")
    except ConfigError as exc:
        return False, str(exc), None
    return True, "accepted", config


def _run(case: Case, base: dict[str, Any]) -> CaseResult:
    """Validate ``base`` changed by ``case`` on both paths and judge the verdicts."""
    name, mutate, must_name = case
    valid = must_name is None
    doc = copy.deepcopy(base)
    mutate(doc)
    ok2, msg2, config2 = _outcome(doc, PYDANTIC_PATH)
    ok1, _, config1 = _outcome(doc, DICT_PATH)
    expected = "accepted" if valid else "rejected"
    observed = "accepted" if ok2 else "rejected"
    if ok1 != ok2:
        observed += f" (Phase 1 path: {'accepted' if ok1 else 'rejected'})"
    passed = ok1 == ok2 == valid
    detail = msg2 if not ok2 else ""
    if passed and valid and config1 != config2:
        passed, detail = False, "the two paths built different configurations"
    if passed and must_name is not None and must_name not in msg2:
        passed, detail = False, f"the error does not name {must_name}: {msg2}"
    return CaseResult(name, expected, observed, passed, detail)


def validation_checks(
    kind: Literal["valid_configs", "invalid_configs"], base: dict[str, Any]
) -> list[CaseResult]:
    """The guide's Test 1 (valid) or Test 2 (invalid) cases, and more."""
    if kind == "valid_configs":
        return [*(_run(case, base) for case in _VALID), _round_trip(base)]
    return [_run(case, base) for case in _INVALID]


def _round_trip(base: dict[str, Any]) -> CaseResult:
    name = "model serialises and deserialises (dict and JSON)"
    ok, message, config = _outcome(copy.deepcopy(base), PYDANTIC_PATH)
    if config is None:
        return CaseResult(name, "round trip equal", "base rejected", False, message)
    again = StratloopConfig.model_validate(config.model_dump())
    from_json = StratloopConfig.model_validate_json(config.model_dump_json(), strict=False)
    passed = ok and again == config and from_json == config
    return CaseResult(name, "round trip equal", "equal" if passed else "different", passed)


def backward_compatibility_checks(base: dict[str, Any]) -> list[CaseResult]:
    """The guide's Test 3: legacy dicts, mixed dict / model usage, plain dict callers."""
    results: list[CaseResult] = []
    legacy = {
        "use_factor_graph": None,
        "llm": {**dict(base.get("llm") or {}), **_LOCAL_LLM, "innovation_rate": 0.2},
    }
    for section in ("data", "backtest", "loop", "audit"):
        if section in base:
            legacy[section] = copy.deepcopy(base[section])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            converted = validate_config(legacy, flags=PYDANTIC_PATH, source="legacy dict")
            error = ""
        except ConfigError as exc:
            converted, error = None, str(exc)
    warned = [w for w in caught if issubclass(w.category, StratloopDeprecationWarning)]
    ok = converted is not None and converted.generation.innovation_rate == 20.0
    results.append(
        CaseResult(
            "legacy v0 dict -> model (fraction 0.2 -> 20%)",
            "accepted, 20%",
            f"{'accepted' if ok else 'rejected'}",
            ok,
            error,
        )
    )
    results.append(
        CaseResult(
            "legacy conversion warns exactly once",
            "1 warning",
            f"{len(warned)} warning(s)",
            len(warned) == 1,
            str(warned[0].message) if warned else "",
        )
    )
    bad = {"use_factor_graph": None, "llm": {**_LOCAL_LLM, "innovation_rate": 20}}
    results.append(
        _expect_reject("legacy rate 20 is not guessed to be a percent", bad, "llm.innovation_rate")
    )
    ok2, message, model = _outcome(copy.deepcopy(base), PYDANTIC_PATH)
    results.append(
        CaseResult(
            "existing code passing a plain dict",
            "accepted",
            "accepted" if ok2 else "rejected",
            ok2,
            message if not ok2 else "",
        )
    )
    if model is not None:
        mixed = {
            **copy.deepcopy(base),
            "generation": GenerationConfig.model_validate(base["generation"]),
        }
        ok3, message3, mixed_model = _outcome(mixed, PYDANTIC_PATH)
        same = ok3 and mixed_model == model
        results.append(
            CaseResult(
                "mixed dict / Pydantic sections",
                "same model",
                "same model" if same else "different",
                same,
                message3 if not ok3 else "",
            )
        )
        via_dict = validate_dict(model.model_dump())
        same_hash = config_hash(via_dict) == config_hash(model)
        results.append(
            CaseResult(
                "Phase 1 dict path builds the same model (same hash)",
                "same hash",
                "same hash" if same_hash else "different",
                same_hash,
            )
        )
        dumped = validate_config(model.model_dump(), flags=PYDANTIC_PATH) == model
        results.append(
            CaseResult(
                "model -> dict -> model", "equal", "equal" if dumped else "different", dumped
            )
        )
    return results


def _expect_reject(name: str, doc: dict[str, Any], must_name: str) -> CaseResult:
    ok, message, _ = _outcome(doc, PYDANTIC_PATH)
    passed = not ok and must_name in message
    return CaseResult(name, "rejected", "accepted" if ok else "rejected", passed, message)


def edge_case_checks(base: dict[str, Any]) -> list[CaseResult]:
    """The guide's Test 4: boundaries, optional None values, extra fields, int vs float."""
    stored = _stored_rate(base, 50)
    return [
        *(_run(case, base) for case in _EDGE),
        CaseResult(
            "int 50 is stored as float 50.0 on both paths",
            "50.0 (float)",
            repr(stored),
            stored == 50.0 and isinstance(stored, float),
        ),
    ]


def _stored_rate(base: dict[str, Any], rate: int) -> Any:
    doc = copy.deepcopy(base)
    _rate(rate)(doc)
    values = []
    for flags in (PYDANTIC_PATH, DICT_PATH):
        _, _, config = _outcome(copy.deepcopy(doc), flags)
        values.append(None if config is None else config.generation.innovation_rate)
    return values[0] if values[0] == values[1] and type(values[0]) is type(values[1]) else values
