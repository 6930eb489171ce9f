"""The deployment guide's Phase 3 checks: strategy selection and the strategy factory.

Each check runs the real factory and strategies against the given
configuration and generators and returns frozen :class:`CheckResult` rows;
the CLI prints them and exits 0 only when every row passed.
"""

from __future__ import annotations

import dataclasses
import logging
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from stratloop.acceptance.results import CheckResult
from stratloop.acceptance.strategy_overhead import ObservedSource
from stratloop.config.models import StratloopConfig
from stratloop.generation.context import GenerationContext
from stratloop.generation.strategies import (
    SELECTION_LOGGER,
    CandidateSource,
    DecidingStrategy,
    FactorGraphStrategy,
    GenerationStrategy,
    LLMStrategy,
    MixedStrategy,
    StrategyFactory,
)

__all__ = [
    "CheckReport",
    "check_strategy_factory",
    "check_strategy_selection",
    "config_for_case",
]

_CASES: tuple[tuple[bool | None, type[DecidingStrategy]], ...] = (
    (True, FactorGraphStrategy),
    (False, LLMStrategy),
    (None, MixedStrategy),
)

_LEAK_ITERATIONS = 1000
_LEAK_BUDGET_BYTES = 64 * 1024
"""Python memory the strategy layer may keep after 1000 iterations (the generators' excluded)."""


@dataclass(frozen=True, slots=True)
class CheckReport:
    """All checks of one guide command."""

    title: str
    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        """Every check passed."""
        return all(result.passed for result in self.results)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "title": self.title,
            "passed": self.passed,
            "checks": [dataclasses.asdict(result) for result in self.results],
        }


def config_for_case(base: StratloopConfig, use_factor_graph: bool | None) -> StratloopConfig:
    """``base`` with ``generation.use_factor_graph`` overlaid, re-validated.

    An ``innovation_rate`` of 100 is lowered to 50 for the true case, since
    ``use_factor_graph: true`` with rate 100 is a configuration conflict.
    """
    generation = base.generation.model_dump()
    generation["use_factor_graph"] = use_factor_graph
    if use_factor_graph is True and generation["innovation_rate"] >= 100.0:
        generation["innovation_rate"] = 50.0
    data = base.model_dump()
    data["generation"] = generation
    return StratloopConfig.model_validate(data, strict=False)


class _CapturedSelections(logging.Handler):
    """Keeps the selection log records emitted while installed."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _capture_selections() -> Iterator[_CapturedSelections]:
    logger = logging.getLogger(SELECTION_LOGGER)
    handler = _CapturedSelections()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def check_strategy_selection(
    base: StratloopConfig, *, llm: CandidateSource, factor_graph: CandidateSource
) -> CheckReport:
    """The guide's four selection cases, on ``base`` with each case overlaid.

    True selects FactorGraphStrategy, False LLMStrategy, None MixedStrategy
    (each also generates one candidate whose decision rule matches), and each
    selection is logged with the strategy's name.
    """
    factory = StrategyFactory(llm, factor_graph)
    results: list[CheckResult] = []
    with _capture_selections() as captured:
        for use_factor_graph, expected in _CASES:
            config = config_for_case(base, use_factor_graph)
            strategy = factory.create(config)
            decision = strategy.decide(GenerationContext.create(config, 0))
            ok = type(strategy) is expected and _rule_matches(use_factor_graph, decision.rule)
            results.append(
                CheckResult(
                    f"use_factor_graph={use_factor_graph} -> {expected.__name__}",
                    ok,
                    f"selected {type(strategy).__name__}; decision {decision.rule}: "
                    f"{decision.reason}",
                )
            )
    logged = [getattr(record, "strategy", None) for record in captured.records]
    wanted = [expected.__name__ for _, expected in _CASES]
    results.append(
        CheckResult(
            "strategy selection logged",
            logged == wanted and all(r.name == SELECTION_LOGGER for r in captured.records),
            f"logger {SELECTION_LOGGER} recorded {logged}; expected {wanted}",
        )
    )
    return CheckReport("Phase 3: strategy selection", tuple(results))


def _rule_matches(use_factor_graph: bool | None, rule: str) -> bool:
    expected = {True: "explicit_factor_graph", False: "explicit_llm", None: "innovation_draw"}
    return expected[use_factor_graph] == rule


def check_strategy_factory(
    base: StratloopConfig, *, llm: CandidateSource, factor_graph: CandidateSource
) -> CheckReport:
    """The guide's four factory cases: instances, injection, immutable context, lifecycle."""
    results = (
        _check_instances(base, llm, factor_graph),
        _check_injection(base, llm, factor_graph),
        _check_immutable_context(base, llm, factor_graph),
        _check_lifecycle(base, llm, factor_graph),
    )
    return CheckReport("Phase 3: strategy factory", results)


def _check_instances(
    base: StratloopConfig, llm: CandidateSource, factor_graph: CandidateSource
) -> CheckResult:
    factory = StrategyFactory(llm, factor_graph)
    seen: list[str] = []
    ok = True
    for use_factor_graph, expected in _CASES:
        case = config_for_case(base, use_factor_graph)
        strategy = factory.create(case)
        ok &= type(strategy) is expected and isinstance(strategy, GenerationStrategy)
        ok &= factory.create(case) is strategy
        seen.append(type(strategy).__name__)
    return CheckResult(
        "factory creates correct strategy instances",
        ok,
        f"created {seen}; each a GenerationStrategy, one reused instance per kind",
    )


def _check_injection(
    base: StratloopConfig, llm: CandidateSource, factor_graph: CandidateSource
) -> CheckResult:
    counted_llm = ObservedSource(llm)
    counted_fg = ObservedSource(factor_graph)
    factory = StrategyFactory(counted_llm, counted_fg)
    fg_strategy = factory.create(config_for_case(base, True))
    llm_strategy = factory.create(config_for_case(base, False))
    holds = (
        isinstance(fg_strategy, FactorGraphStrategy)
        and fg_strategy.factor_graph is counted_fg
        and isinstance(llm_strategy, LLMStrategy)
        and llm_strategy.llm is counted_llm
    )
    fg_candidate = fg_strategy.generate(GenerationContext.create(config_for_case(base, True), 0))
    llm_candidate = llm_strategy.generate(
        GenerationContext.create(config_for_case(base, False), 1)
    )
    called = (counted_llm.calls, counted_fg.calls) == (1, 1)
    methods = (fg_candidate.method, llm_candidate.method) == ("factor_graph", "llm")
    return CheckResult(
        "dependency injection (llm_client, factor_graph_generator)",
        holds and called and methods,
        f"strategies hold the injected {type(llm).__name__} and {type(factor_graph).__name__}; "
        f"calls reached llm={counted_llm.calls}, factor_graph={counted_fg.calls}; candidates "
        f"{llm_candidate.candidate_id} (llm), {fg_candidate.candidate_id} (factor_graph)",
    )


def _refuses(action: Callable[[], object]) -> bool:
    try:
        action()
    except (dataclasses.FrozenInstanceError, ValidationError, TypeError, AttributeError):
        return True
    return False


def _check_immutable_context(
    base: StratloopConfig, llm: CandidateSource, factor_graph: CandidateSource
) -> CheckResult:
    config = config_for_case(base, None)
    ctx = GenerationContext.create(config, 3, extras={"fields": ("close",)})
    before = (ctx.config.model_dump_json(), ctx.iteration, ctx.seed, dict(ctx.extras))
    StrategyFactory(llm, factor_graph).create(config).generate(ctx)
    after = (ctx.config.model_dump_json(), ctx.iteration, ctx.seed, dict(ctx.extras))
    attempts = {
        "ctx.iteration = 4": lambda: setattr(ctx, "iteration", 4),
        "ctx.config = None": lambda: setattr(ctx, "config", None),
        "ctx.config.generation.innovation_rate = 0": lambda: setattr(
            ctx.config.generation, "innovation_rate", 0.0
        ),
        "ctx.extras['x'] = 1": lambda: ctx.extras.__setitem__("x", 1),  # type: ignore[index]
        "del ctx.feedback": lambda: delattr(ctx, "feedback"),
    }
    refused = {name: _refuses(action) for name, action in attempts.items()}
    ok = all(refused.values()) and before == after
    failed = [name for name, was in refused.items() if not was]
    return CheckResult(
        "immutable context passed to strategies",
        ok,
        f"{len(refused) - len(failed)}/{len(refused)} mutation attempts refused"
        + (f" (accepted: {failed})" if failed else "")
        + ("; context unchanged by generate" if before == after else "; generate changed it"),
    )


def _check_lifecycle(
    base: StratloopConfig, llm: CandidateSource, factor_graph: CandidateSource
) -> CheckResult:
    config = config_for_case(base, None)
    factory = StrategyFactory(llm, factor_graph)
    strategy = factory.create(config)
    stateless = not hasattr(strategy, "__dict__")
    fresh = [
        _footprint(StrategyFactory(llm, factor_graph).create(config), config, i)
        for i in (7, 3, 7)
    ]
    for i in range(50):
        strategy.generate(GenerationContext.create(config, i))
    reused = [_footprint(strategy, config, i) for i in (7, 3, 7)]
    independent = fresh == reused and fresh[0] == fresh[2]
    growth = _memory_growth(strategy, config)
    ok = stateless and independent and growth <= _LEAK_BUDGET_BYTES
    return CheckResult(
        "strategy lifecycle (stateless, reusable, no leaks)",
        ok,
        f"stateless={stateless}; a reused instance decides and generates as fresh ones="
        f"{independent}; memory kept by the strategy layer over {_LEAK_ITERATIONS} iterations: "
        f"{growth} B (budget {_LEAK_BUDGET_BYTES} B)",
    )


def _footprint(
    strategy: DecidingStrategy, config: StratloopConfig, iteration: int
) -> tuple[str, float, str]:
    """What ``strategy`` decides and produces for ``iteration``.

    The factor graph's candidate is a function of the context, so its id is
    compared; an LLM's answer varies from call to call, so only its method is.
    """
    ctx = GenerationContext.create(config, iteration)
    decision = strategy.decide(ctx)
    candidate = strategy.produce(ctx, decision)
    produced = candidate.candidate_id if candidate.method == "factor_graph" else candidate.method
    return decision.method, decision.draw, produced


def _memory_growth(strategy: GenerationStrategy, config: StratloopConfig) -> int:
    """Bytes still allocated in generation modules after many iterations."""
    tracemalloc.start()
    try:
        strategy.generate(GenerationContext.create(config, 0))
        before = tracemalloc.take_snapshot()
        for i in range(_LEAK_ITERATIONS):
            strategy.generate(GenerationContext.create(config, i))
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    scope = [tracemalloc.Filter(inclusive=True, filename_pattern="*stratloop/generation/*")]
    diff = after.filter_traces(scope).compare_to(before.filter_traces(scope), "filename")
    return sum(max(0, stat.size_diff) for stat in diff)
