"""Build the real loop parts from a configuration: what ``stratloop run`` runs.

The factor-graph generator, the LLM proposer (only when the LLM is enabled and
an endpoint is configured), the persistent factor library as the run sees it
(when ``library.path`` is set), the expression validator, the backtest evaluator
for the worker processes, and the audit trail. A panel too short for any
candidate to be evaluated is refused here, before the run starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from stratloop.config.models import StratloopConfig
from stratloop.data.panel import Panel
from stratloop.errors import BacktestError, DataError
from stratloop.flags import FlagSource, instance_id
from stratloop.llm.budget import TokenBudget, Usage
from stratloop.loop.audit import RunAudit
from stratloop.loop.evaluation import backtest_evaluator, load_run_panel
from stratloop.loop.library import open_run_library
from stratloop.loop.runner import LoopParts
from stratloop.spec import Candidate, Strategy, TopN

if TYPE_CHECKING:
    from stratloop.factors import FactorLibrary, Limits

__all__ = ["build_parts", "parts_factory"]


def build_parts(
    config: StratloopConfig,
    *,
    flags: FlagSource,
    run_id: str,
    instance_id: str,
    spent: Usage,
    audit_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoopParts:
    """The parts of a real run.

    Args:
        config: the run's configuration.
        flags: the flag source, read before every iteration.
        run_id: the run id (for the audit trail).
        instance_id: this instance's id (for the audit trail).
        spent: LLM usage already spent by this run (non-zero on resume).
        audit_path: overrides ``audit.path``.
        environ: where the LLM's API key is looked up (default: the process environment).
    """
    from stratloop.factors import (  # noqa: PLC0415 - numpy-heavy, loaded when a run starts
        FactorGraphGenerator,
        Limits,
        check_strategy,
        default_library,
        load_user_factors,
    )

    panel = load_run_panel(config)
    fields = frozenset(panel.fields)
    limits = Limits.from_config(config.generation)
    library = default_library()
    if config.generation.user_factors is not None:
        library = library.with_templates(load_user_factors(Path(config.generation.user_factors)))
    _refuse_short_panel(panel, config, library, limits)
    saved = open_run_library(config, Path(config.loop.runs_dir) / run_id, panel)
    definitions = None if saved is None else saved.definitions
    factor_graph = FactorGraphGenerator(
        library,
        limits=limits,
        fields=fields,
        max_attempts=config.generation.max_mutation_attempts,
        n_assets=len(panel.assets),
        saved=definitions,
    )
    budget = TokenBudget.from_config(config.llm, spent=spent)
    llm = None
    if config.llm.enabled and config.llm.base_url is not None:
        from stratloop.llm.client import LLMClient  # noqa: PLC0415 - openai loads only when used
        from stratloop.llm.prompts import Universe  # noqa: PLC0415 - stratloop.llm loads openai
        from stratloop.llm.proposer import LLMProposer  # noqa: PLC0415 - stratloop.llm loads openai

        universe = Universe(
            assets=panel.assets,
            start=str(panel.dates[0]),
            end=str(panel.dates[-1]),
            rows=len(panel.dates),
        )
        llm = LLMProposer(
            LLMClient(config.llm, environ=environ),
            limits=limits,
            fields=fields,
            budget=budget,
            universe=universe,
            library=library,
            saved=definitions,
        )

    def validate(candidate: Candidate) -> None:
        check_strategy(candidate.strategy, fields=fields, limits=limits, factors=definitions)

    return LoopParts(
        factor_graph=factor_graph,
        evaluator=backtest_evaluator,
        flags=flags,
        llm=llm,
        budget=budget if llm is not None else None,
        validate=validate,
        audit=RunAudit(config, run_id=run_id, instance_id=instance_id, path=audit_path),
        library=saved,
    )


def _refuse_short_panel(
    panel: Panel, config: StratloopConfig, library: FactorLibrary, limits: Limits
) -> None:
    """Refuse a panel on which none of the library's factors can be evaluated.

    Every factor-graph candidate starts from a factor of the library. Each is
    tried at its default parameters, shortest lookback first, until one can be
    backtested (on a usable panel the first one can: one evaluation). If none
    can (the split leaves too few dates, or no value before the last train
    date), every iteration would fail and the run would "complete" with
    nothing evaluated, so the run is refused before it starts.

    Raises:
        DataError: the panel is too short, with its size and what to change.
    """
    from stratloop.backtest import evaluate_strategy  # noqa: PLC0415 - numpy-heavy, as above

    fields = frozenset(panel.fields)
    probes = sorted(
        (probe.lookback, template.name, str(probe))
        for template in library.usable(fields, limits)
        for probe in (template.instantiate(fields=fields, limits=limits),)
    )
    failures: list[str] = []
    for _lookback, _name, expression in probes:
        strategy = Strategy(expression=expression, portfolio=TopN(n=1, rebalance_days=1))
        try:
            evaluate_strategy(strategy, panel, config.backtest)
        except BacktestError as exc:
            failures.append(str(exc))
            continue
        return
    if not failures:
        return
    n_dates = len(panel.dates)
    span = f"{panel.dates[0]} to {panel.dates[-1]}" if n_dates else "no dates"
    raise DataError(
        f"data.source {config.data.source!r} has {n_dates} dates ({span}): too few to "
        f"evaluate any candidate; none of the {len(probes)} factors of the library can be "
        f"backtested on it (the shortest, {probes[0][1]} `{probes[0][2]}`: {failures[0]}). "
        "Use a longer history (data.start_date / data.end_date, or a longer file)"
    )


def parts_factory(
    config: StratloopConfig,
    *,
    flags: FlagSource,
    run_id: str,
    audit_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Callable[[Usage], LoopParts]:
    """What ``LoopRunner.create`` / ``resume`` call with the LLM usage already spent.

    The parts are built for this instance (:func:`stratloop.flags.instance_id`).
    """

    def make(spent: Usage) -> LoopParts:
        return build_parts(
            config,
            flags=flags,
            run_id=run_id,
            instance_id=instance_id(),
            spent=spent,
            audit_path=audit_path,
            environ=environ,
        )

    return make
