"""Frozen, strict Pydantic models of the configuration (schema ``version: 1``).

Strict means what the file says is what runs: no string becomes a number or a
boolean, a bool is not a number, NaN and infinities are rejected, unknown keys
are errors. ``generation.use_factor_graph`` is required but nullable: whether
the loop spends LLM money is never decided by a hidden default.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ArchiveConfig",
    "AuditConfig",
    "BacktestConfig",
    "ComplexityPenaltyConfig",
    "DataConfig",
    "GenerationConfig",
    "LLMConfig",
    "LibraryConfig",
    "LoopConfig",
    "ModelChoice",
    "SearchConfig",
    "StratloopConfig",
]

_MODEL = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

Percent = Annotated[float, Field(ge=0.0, le=100.0)]
PositiveSeconds = Annotated[float, Field(gt=0.0, le=86_400.0)]


class GenerationConfig(BaseModel):
    """How each iteration chooses between the LLM and the factor graph."""

    model_config = _MODEL
    use_factor_graph: bool | None
    """true: factor graph always; false: LLM always; null: draw against innovation_rate."""
    innovation_rate: Percent
    """Percent chance (0-100) of asking the LLM when ``use_factor_graph`` is null."""
    on_llm_failure: Literal["fail", "fallback_to_factor_graph"] = "fail"
    """What an LLM failure does: record the iteration as failed, or an audited fallback."""
    max_mutation_attempts: Annotated[int, Field(ge=1, le=1000)] = 25
    """How many rewrites the factor graph tries before giving up on a different, valid child."""
    user_factors: str | None = None
    """Path of a YAML file with the user's own named factor templates."""
    max_expression_nodes: Annotated[int, Field(ge=1, le=10_000)] = 64
    """Upper bound on the size of a candidate expression."""
    max_expression_depth: Annotated[int, Field(ge=1, le=200)] = 12
    """Upper bound on the nesting depth of a candidate expression."""
    max_window: Annotated[int, Field(ge=1, le=10_000)] = 252
    """Largest time-series window an expression may use, in trading days."""


class ModelChoice(BaseModel):
    """One model of an ensemble: chosen per call with probability proportional to ``weight``."""

    model_config = _MODEL
    model: Annotated[str, Field(min_length=1)]
    """The model name the endpoint serves."""
    weight: Annotated[float, Field(gt=0.0, le=1_000_000.0)] = 1.0
    base_url: str | None = None
    """Its endpoint; unset means ``llm.base_url``."""
    cost_per_1k_tokens: Annotated[float, Field(ge=0.0)] | None = None
    """Its price; unset means ``llm.cost_per_1k_tokens``."""


class LLMConfig(BaseModel):
    """The OpenAI-compatible endpoint that proposes new strategies."""

    model_config = _MODEL
    enabled: bool = False
    base_url: str | None = None
    """The endpoint, e.g. ``http://127.0.0.1:11434/v1`` for Ollama; unset means none."""
    model: str | None = None
    api_key_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "OPENAI_API_KEY"
    """Name of the environment variable that holds the key; the key itself is never in a file."""
    timeout_s: PositiveSeconds = 60.0
    max_retries: Annotated[int, Field(ge=0, le=20)] = 3
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.7
    max_tokens: Annotated[int, Field(ge=1, le=200_000)] = 1024
    """Upper bound on one reply's tokens."""
    max_tokens_per_run: Annotated[int, Field(ge=1)] | None = None
    """Token budget of a whole run; unset means unlimited."""
    cost_per_1k_tokens: Annotated[float, Field(ge=0.0)] | None = None
    max_cost_per_run: Annotated[float, Field(gt=0.0)] | None = None
    on_budget_exhausted: Literal["stop", "factor_graph_only"] = "stop"
    """When the budget is spent: stop the run, or go on factor-graph-only (recorded)."""
    repair_rounds: Annotated[int, Field(ge=0, le=5)] = 1
    """How many times the parser's error is sent back for a corrected reply."""
    anonymize: bool = False
    """Hide tickers and dates from the prompt so the model cannot recall the future."""
    structured_output: Literal["auto", "json_schema", "grammar", "none"] = "none"
    """Constrain replies: the spec's JSON schema, a GBNF grammar of the DSL, or nothing;
    ``auto`` probes the endpoint once per run and records what it honours."""
    models: Annotated[tuple[ModelChoice, ...], Field(strict=False, max_length=32)] = ()
    """An ensemble chosen per call by the run's seeded generator; empty means ``llm.model``."""


class DataConfig(BaseModel):
    """Which price panel the loop learns on."""

    model_config = _MODEL
    source: Annotated[str, Field(min_length=1)] = "sp500-20"
    """A packaged dataset name (``sp500-20``) or a path to a CSV / Parquet file."""
    layout: Literal["auto", "wide", "long"] = "auto"
    """Wide: Date column plus one close column per asset. Long: date, asset, OHLCV columns."""
    start_date: dt.date | None = None
    end_date: dt.date | None = None


class BacktestConfig(BaseModel):
    """How candidates are evaluated."""

    model_config = _MODEL
    cost_bps: Annotated[float, Field(ge=0.0, le=10_000.0)] = 10.0
    """Trading cost in basis points of turnover."""
    train_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.7
    """Share of dates before the sealed holdout (the selection region) without ``split_date``."""
    split_date: dt.date | None = None
    """First date of the sealed holdout; when set, leave ``train_fraction`` at its default."""
    annualization: Annotated[int, Field(ge=1, le=366)] = 252
    benchmark: Annotated[str, Field(min_length=1)] = "equal_weight"
    """``equal_weight`` (the priced universe on the strategy's schedule, same costs), ``none``
    (no benchmark: an explicit, recorded choice), a column of the panel, or a CSV file of dates
    and one price column."""
    folds: Annotated[int, Field(ge=1, le=20)] = 4
    """Walk-forward validation folds in the selection region (after the first, train-only block)."""
    fold_scheme: Literal["expanding", "rolling"] = "expanding"
    """Each fold's train window: everything before it (expanding) or the one block before it."""
    purge_days: Annotated[int, Field(ge=0, le=10_000)] | None = None
    """Days dropped between a fold's train window and its validation; unset: the expression's
    lookback, so no validation signal reads a train-window price."""


class LoopConfig(BaseModel):
    """The learning loop."""

    model_config = _MODEL
    iterations: Annotated[int, Field(ge=1, le=10_000_000)] = 200
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 42
    workers: Annotated[int, Field(ge=1, le=256)] = 1
    executor: Literal["local", "ray"] = "local"
    """Where candidates are evaluated: local worker processes, or Ray actors (extra ``ray``)."""
    ray_address: Annotated[str, Field(min_length=1)] | None = None
    """With ``executor: ray``: unset starts a Ray on this machine with ``workers`` CPUs;
    ``auto`` or ``ray://head:10001`` joins an existing cluster."""
    batch_size: Annotated[int, Field(ge=1, le=1024)] = 4
    """Candidates generated from one champion snapshot; independent of ``workers``."""
    eval_timeout_s: PositiveSeconds = 120.0
    eval_cache_mb: Annotated[int, Field(ge=0, le=1_048_576)] = 256
    """Memory (MiB) each worker may keep for evaluated subexpressions; 0 turns the cache off.

    Size it in panels: one dates x assets panel takes ``8 * dates * assets``
    bytes and a candidate leaves a few. The default holds ~190 panels of the
    embedded data but only two of a 5,000 x 3,000 panel.
    """
    champion_metric: Literal[
        "information_ratio",
        "excess_sharpe",
        "sharpe",
        "sortino",
        "calmar",
        "annual_return",
        "deflated_sharpe",
    ] = "information_ratio"
    """The validation metric the champion maximises; the first two need a benchmark."""
    min_trades: Annotated[int, Field(ge=0)] = 10
    runs_dir: Annotated[str, Field(min_length=1)] = "runs"
    max_consecutive_failures: Annotated[int, Field(ge=0, le=1_000_000)] = 10
    """LLM provider failures in a row (unreachable, empty replies) that halt the run; 0: never."""
    on_consecutive_failures: Literal["stop", "pause"] = "stop"
    """``stop``: the run stops, resumable; ``pause``: it waits ``failure_pause_s``, then goes on."""
    failure_pause_s: PositiveSeconds = 300.0
    max_failure_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    """Share of the last ``failure_rate_window`` iterations that may produce no evaluation
    before ``stratloop serve``'s /health says degraded (0.1: more than 10% fail)."""
    failure_rate_window: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    """How many of the latest committed iterations ``max_failure_rate`` is judged over."""


_BUCKETS = Annotated[int, Field(ge=1, le=16)]


class ArchiveConfig(BaseModel):
    """The diversity archive (MAP-Elites): the best candidate per cell of finance descriptors.

    A cell is (factor family, turnover bucket, beta bucket, complexity bucket).
    Each measured descriptor has ``*_buckets`` buckets split by ``buckets - 1``
    edges: turnover and size edges grow geometrically from the first
    (``first * ratio ** i``), beta edges linearly (``first + step * i``). A value
    below the first edge is bucket 0, one at or above edge ``i`` bucket ``i + 1``.
    Every setting is valid on its own, so no combination can disorder the edges.
    """

    model_config = _MODEL
    enabled: bool = False
    """Keep the archive and sample parents from it; false leaves the search as it was."""
    parent_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    """Probability that an iteration's parent is an archive elite (uniform over the filled
    cells) instead of the champion."""
    turnover_buckets: _BUCKETS = 4
    turnover_first: Annotated[float, Field(gt=0.0, le=10_000.0)] = 4.0
    """First edge of annual validation turnover (4: the book turns over about every quarter)."""
    turnover_ratio: Annotated[float, Field(ge=1.01, le=100.0)] = 2.5
    """Each further turnover edge is this times the previous (defaults: 4, 10, 25)."""
    beta_buckets: _BUCKETS = 4
    beta_first: Annotated[float, Field(ge=-100.0, le=100.0)] = 0.8
    """First edge of validation beta against the benchmark (no benchmark: one bucket)."""
    beta_step: Annotated[float, Field(ge=0.001, le=100.0)] = 0.2
    """Distance between beta edges (defaults: 0.8, 1.0, 1.2)."""
    nodes_buckets: _BUCKETS = 4
    nodes_first: Annotated[int, Field(ge=2, le=10_000)] = 5
    """First edge of expression size in nodes."""
    nodes_ratio: Annotated[float, Field(ge=1.01, le=100.0)] = 1.8
    """Each further size edge is this times the previous, rounded up (defaults: 5, 9, 17)."""


class ComplexityPenaltyConfig(BaseModel):
    """What the champion rule subtracts from the validation metric for an expression's size."""

    model_config = _MODEL
    per_node: Annotated[float, Field(ge=0.0, le=1_000.0)] = 0.0
    """Subtracted per node of the expression."""
    per_constant: Annotated[float, Field(ge=0.0, le=1_000.0)] = 0.0
    """Subtracted per free constant (a number that is not a window or lag)."""


class SearchConfig(BaseModel):
    """What counts as a new trial: repeats are never evaluated, near-duplicates not as new."""

    model_config = _MODEL
    max_signal_correlation: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9
    """A candidate whose signal's rank correlation with an evaluated one's (same trading rule,
    train window) is above this is recorded as ``redundant``; 1 turns the check off."""
    repeat_attempts: Annotated[int, Field(ge=0, le=100)] = 5
    """How many more candidates a generator is asked for after proposing a repeat, before the
    iteration is recorded as ``exhausted``."""
    islands: Annotated[int, Field(ge=1, le=256)] = 1
    """Independent populations; iteration ``i`` belongs to island ``i mod islands``. 1: one
    population, exactly the search without islands."""
    migration_interval: Annotated[int, Field(ge=1, le=10_000_000)] = 50
    """Iterations between migrations: every island's champion is offered to the next island
    on the ring, which adopts it only when it scores higher. Setting it with one island is a
    conflict (``migration_without_islands``)."""
    archive: ArchiveConfig = ArchiveConfig()
    """The diversity archive parents are sampled from (off by default)."""
    complexity_penalty: ComplexityPenaltyConfig = ComplexityPenaltyConfig()
    """The champion rule compares ``metric - penalty``; zero by default."""


class LibraryConfig(BaseModel):
    """The persistent factor library (``stratloop library``): accepted champions kept across runs.

    Off unless ``path`` is set: with a library, a run's outcome depends on the
    runs saved before it, so the same seed and configuration repeat a run only
    with the same library (each run keeps the entries it started with in its
    directory, ``library.json``, so a resumed run sees the same ones).
    """

    model_config = _MODEL
    path: Annotated[str, Field(min_length=1)] | None = None
    """The library's directory; a relative path is resolved against the directory the run
    starts in (like ``loop.runs_dir``) and stored resolved. None: no library."""
    max_correlation: Annotated[float, Field(gt=0.0, le=1.0)] = 0.7
    """A candidate whose signal's rank correlation with a library factor's (any trading rule,
    the run's train window) is above this is recorded as ``redundant``; 1 turns it off."""
    save: Literal["end", "champion", "never"] = "end"
    """``end``: the champion is saved when the run completes; ``champion``: every new champion
    as it is accepted; ``never``: only ``stratloop library add`` saves."""


class AuditConfig(BaseModel):
    """The Phase 4 audit trail."""

    model_config = _MODEL
    path: Annotated[str, Field(min_length=1)] = "audit/learning_audit.jsonl"
    fsync: Literal["always", "batch", "never"] = "batch"
    batch_interval_s: Annotated[float, Field(gt=0.0, le=3600.0)] = 1.0
    batch_records: Annotated[int, Field(ge=1, le=1_000_000)] = 1024
    """Group-commit bound for bursts; at the loop's pace ``batch_interval_s`` binds first."""
    rotate_max_bytes: Annotated[int, Field(ge=1024)] = 50 * 1024 * 1024
    rotate_daily: bool = True
    compress: bool = True
    retention_files: Annotated[int, Field(ge=1)] = 30
    retention_days: Annotated[int, Field(ge=1)] = 90
    key_env: Annotated[str, Field(min_length=1)] | None = None
    """Name of the environment variable holding the HMAC key(s); never the key itself."""
    key_file: Annotated[str, Field(min_length=1)] | None = None
    """Path of a file holding the HMAC key(s), one per line, the signing key last."""
    checkpoint_interval_s: Annotated[float, Field(gt=0.0, le=86_400.0)] = 60.0
    """How often a signed checkpoint of the durable chain head is appended."""


class StratloopConfig(BaseModel):
    """The whole configuration. ``version`` and ``generation`` are required."""

    model_config = _MODEL
    version: Literal[1]
    """Schema version; exactly the integer 1 (not ``true``, not ``1.0``)."""
    generation: GenerationConfig
    llm: LLMConfig = LLMConfig()
    data: DataConfig = DataConfig()
    backtest: BacktestConfig = BacktestConfig()
    loop: LoopConfig = LoopConfig()
    audit: AuditConfig = AuditConfig()
    search: SearchConfig = SearchConfig()
    library: LibraryConfig = LibraryConfig()

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_an_integer(cls, value: object) -> object:
        """Reject ``true`` and ``1.0``, which a Literal compares equal to 1."""
        if type(value) is not int:
            msg = "the integer 1"
            raise ValueError(msg)
        return value
