"""Named cross-field conflict checks (Phase 1 enforcement).

Each check looks at a configuration whose fields are valid one by one and
reports a contradiction as a :class:`~stratloop.errors.ConfigConflictError`
value; :func:`check_conflicts` raises when any is found. Conflicts are never
resolved silently. They apply only when Phase 1 enforcement is on.
"""

from __future__ import annotations

from collections.abc import Callable

from stratloop.config.models import BacktestConfig, StratloopConfig
from stratloop.errors import ConfigConflictError, ConfigConflictsError

__all__ = ["CHECKS", "EXCESS_METRICS", "check_conflicts", "find_conflicts", "llm_required"]

_DEFAULT_TRAIN_FRACTION = BacktestConfig.model_fields["train_fraction"].default


def llm_required(config: StratloopConfig) -> bool:
    """Whether some iteration may ask the LLM: mandated, or drawn with a positive rate."""
    generation = config.generation
    if generation.use_factor_graph is None:
        return generation.innovation_rate > 0
    return generation.use_factor_graph is False


def _factor_graph_with_full_innovation(config: StratloopConfig) -> ConfigConflictError | None:
    g = config.generation
    if g.use_factor_graph is True and g.innovation_rate == 100:
        return ConfigConflictError(
            "factor_graph_with_full_innovation",
            {"generation.use_factor_graph": True, "generation.innovation_rate": g.innovation_rate},
            "the factor graph is mandated, yet the innovation rate asks for the LLM every time",
            "set use_factor_graph: null to draw against the rate, or lower innovation_rate",
        )
    return None


def _llm_required(
    name: str, field: str, explanation: str, fix: str, missing: Callable[[StratloopConfig], bool]
) -> Callable[[StratloopConfig], ConfigConflictError | None]:
    def check(config: StratloopConfig) -> ConfigConflictError | None:
        if not (llm_required(config) and missing(config)):
            return None
        g = config.generation
        return ConfigConflictError(
            name,
            {
                "generation.use_factor_graph": g.use_factor_graph,
                "generation.innovation_rate": g.innovation_rate,
                field: getattr(config.llm, field.split(".")[1]),
            },
            explanation,
            fix,
        )

    check.__name__ = f"_{name}"
    return check


def _split_date_with_train_fraction(config: StratloopConfig) -> ConfigConflictError | None:
    b = config.backtest
    if b.split_date is not None and b.train_fraction != _DEFAULT_TRAIN_FRACTION:
        return ConfigConflictError(
            "split_date_with_train_fraction",
            {
                "backtest.split_date": b.split_date.isoformat(),
                "backtest.train_fraction": b.train_fraction,
            },
            "both choose where the sealed holdout starts",
            "remove one of them",
        )
    return None


EXCESS_METRICS = frozenset({"information_ratio", "excess_sharpe"})
"""Champion metrics measured against the benchmark."""


def _excess_metric_without_benchmark(config: StratloopConfig) -> ConfigConflictError | None:
    metric = config.loop.champion_metric
    if metric in EXCESS_METRICS and config.backtest.benchmark == "none":
        return ConfigConflictError(
            "excess_metric_without_benchmark",
            {"loop.champion_metric": metric, "backtest.benchmark": "none"},
            f"{metric} is measured against the benchmark, and there is none",
            "set backtest.benchmark (equal_weight, a column or a file), or choose an absolute "
            "champion_metric such as sharpe",
        )
    return None


def _start_after_end(config: StratloopConfig) -> ConfigConflictError | None:
    d = config.data
    if d.start_date is not None and d.end_date is not None and d.start_date > d.end_date:
        return ConfigConflictError(
            "start_after_end",
            {"data.start_date": d.start_date.isoformat(), "data.end_date": d.end_date.isoformat()},
            "the data window is empty",
            "make start_date on or before end_date",
        )
    return None


def _cost_cap_without_price(config: StratloopConfig) -> ConfigConflictError | None:
    llm = config.llm
    if llm.max_cost_per_run is not None and llm.cost_per_1k_tokens is None:
        return ConfigConflictError(
            "cost_cap_without_price",
            {"llm.max_cost_per_run": llm.max_cost_per_run, "llm.cost_per_1k_tokens": None},
            "a cost cap cannot be enforced without the price per 1000 tokens",
            "set llm.cost_per_1k_tokens, or use llm.max_tokens_per_run instead",
        )
    return None


def _migration_without_islands(config: StratloopConfig) -> ConfigConflictError | None:
    search = config.search
    default = type(search).model_fields["migration_interval"].default
    if search.islands == 1 and search.migration_interval != default:
        return ConfigConflictError(
            "migration_without_islands",
            {"search.islands": 1, "search.migration_interval": search.migration_interval},
            "migration moves champions between islands, and there is one island",
            "set search.islands above 1, or remove search.migration_interval",
        )
    return None


CHECKS: tuple[Callable[[StratloopConfig], ConfigConflictError | None], ...] = (
    _factor_graph_with_full_innovation,
    _llm_required(
        "llm_required_but_disabled",
        "llm.enabled",
        "the configuration may ask the LLM but the LLM is disabled",
        "set llm.enabled: true, or use_factor_graph: true / innovation_rate: 0",
        lambda c: not c.llm.enabled,
    ),
    _llm_required(
        "llm_required_without_endpoint",
        "llm.base_url",
        "the configuration may ask the LLM but no endpoint is configured",
        "set llm.base_url (e.g. http://127.0.0.1:11434/v1), or stop requiring the LLM",
        lambda c: c.llm.base_url is None,
    ),
    _llm_required(
        "llm_required_without_model",
        "llm.model",
        "the configuration may ask the LLM but names no model",
        "set llm.model, or stop requiring the LLM",
        lambda c: c.llm.model is None,
    ),
    _split_date_with_train_fraction,
    _excess_metric_without_benchmark,
    _start_after_end,
    _cost_cap_without_price,
    _migration_without_islands,
)
"""Every named conflict check, in the order they are reported."""


def find_conflicts(config: StratloopConfig) -> tuple[ConfigConflictError, ...]:
    """Every conflict in ``config`` (empty when there is none)."""
    return tuple(found for check in CHECKS if (found := check(config)) is not None)


def check_conflicts(config: StratloopConfig) -> None:
    """Raise when ``config`` has conflicts.

    Raises:
        ConfigConflictError: exactly one conflict.
        ConfigConflictsError: several; each is in ``.conflicts``.
    """
    found = find_conflicts(config)
    if len(found) == 1:
        raise found[0]
    if found:
        raise ConfigConflictsError(found)
