"""Build the real loop parts from a configuration: what ``stratloop run`` runs.

The factor-graph generator, the LLM proposer (only when the LLM is enabled and
an endpoint is configured), the expression validator, the backtest evaluator
for the worker processes, and the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from stratloop.config.models import StratloopConfig
from stratloop.flags import FlagSource, instance_id
from stratloop.llm.budget import TokenBudget, Usage
from stratloop.loop.audit import RunAudit
from stratloop.loop.evaluation import backtest_evaluator, load_run_panel
from stratloop.loop.runner import LoopParts
from stratloop.spec import Candidate

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
    factor_graph = FactorGraphGenerator(
        library,
        limits=limits,
        fields=fields,
        max_attempts=config.generation.max_mutation_attempts,
        n_assets=len(panel.assets),
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
        )

    def validate(candidate: Candidate) -> None:
        check_strategy(candidate.strategy, fields=fields, limits=limits)

    return LoopParts(
        factor_graph=factor_graph,
        evaluator=backtest_evaluator,
        flags=flags,
        llm=llm,
        budget=budget if llm is not None else None,
        validate=validate,
        audit=RunAudit(config, run_id=run_id, instance_id=instance_id, path=audit_path),
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
