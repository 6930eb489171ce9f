"""``stratloop config validate|show`` and ``stratloop init``.

Exit codes: 0 valid, 1 invalid (every error listed with field path, value and
what is allowed), 2 unreadable file, unknown environment or usage error.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from stratloop.cli._app import (
    EXIT_INVALID,
    EXIT_UNUSABLE,
    app,
    command,
    console,
    err_console,
    fail,
    group,
)
from stratloop.cli._options import EnvironmentOption, SetOption, parse_assignments
from stratloop.errors import (
    ConfigConflictError,
    ConfigConflictsError,
    ConfigValidationError,
)
from stratloop.flags import EnvFlagSource

if TYPE_CHECKING:
    from stratloop.config.models import StratloopConfig
    from stratloop.errors import ConfigError
    from stratloop.flags import Flags

__all__ = ["config_app"]

config_app = group("config", "Validate and show configuration.")
app.add_typer(config_app)



def _print_config_error(error: ConfigError) -> None:
    if isinstance(error, ConfigValidationError):
        err_console.print(f"[bold red]invalid configuration[/] ({len(error.issues)} error(s)):")
        for issue in error.issues:
            line = f"  - {issue.field_path}: got {issue.shown_value}; allowed: {issue.allowed}"
            if issue.hint:
                line += f"; {issue.hint}"
            if issue.source:
                line += f" (from {issue.source})"
            err_console.print(line, markup=False, soft_wrap=True)
        return
    conflicts = error.conflicts if isinstance(error, ConfigConflictsError) else (error,)
    err_console.print(f"[bold red]configuration conflicts[/] ({len(conflicts)}):")
    for conflict in conflicts:
        assert isinstance(conflict, ConfigConflictError)
        shown = ", ".join(f"{k} = {v!r}" for k, v in conflict.fields.items())
        err_console.print(
            f"  - {conflict.name}: {shown}: {conflict.explanation}; fix: {conflict.fix}",
            markup=False,
            soft_wrap=True,
        )


def _load(
    file: Path | None, environment: str | None, overrides: dict[str, object], flags: Flags
) -> StratloopConfig:
    from stratloop.config import load_config  # noqa: PLC0415 - pydantic; keep --help fast
    from stratloop.environments import (  # noqa: PLC0415 - pydantic; keep --help fast
        load_environment,
    )

    if environment is not None and file is None:
        return load_environment(environment).load_config(flags=flags, overrides=overrides)
    layers = [load_environment(environment).layer()] if environment is not None else []
    return load_config(file, overrides=overrides, flags=flags, layers=layers)


def _flags() -> Flags:
    return EnvFlagSource().current()


@command(config_app, "validate")
def validate(
    file: Annotated[Path, typer.Argument(help="The YAML configuration file.")],
    set_: SetOption = None,
) -> None:
    """Validate FILE (with STRATLOOP_ overrides and --set) and list every problem."""
    flags = _flags()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _load(file, None, parse_assignments(set_), flags)
        except (ConfigValidationError, ConfigConflictError) as exc:
            _show_warnings(caught)
            _print_config_error(exc)
            raise typer.Exit(EXIT_INVALID) from None
    _show_warnings(caught)
    path = "Phase 2 Pydantic models" if flags.pydantic_validation else "Phase 1 dict validator"
    console.print(f"[green]valid[/]: {file} (validated by the {path})", soft_wrap=True)
    if not flags.enforcement:
        console.print(
            "note: Phase 1 enforcement is off (legacy behaviour): conflict checks were not applied",
            soft_wrap=True,
        )


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    for item in caught:
        err_console.print(f"warning: {item.message}", markup=False, soft_wrap=True)


@command(config_app, "show")
def show(
    file: Annotated[
        Path | None, typer.Argument(help="A configuration file (default: the environment's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    environment: EnvironmentOption = "local",
    set_: SetOption = None,
) -> None:
    """Print the effective configuration, secrets redacted."""
    from stratloop.config import config_hash, snapshot  # noqa: PLC0415 - pydantic; keep --help fast

    try:
        config = _load(file, environment, parse_assignments(set_), _flags())
    except (ConfigValidationError, ConfigConflictError) as exc:
        _print_config_error(exc)
        raise typer.Exit(EXIT_INVALID) from None
    data = snapshot(config)
    if as_json:
        typer.echo(
            json.dumps({"config": data, "config_hash": config_hash(data)}, indent=2, sort_keys=True)
        )
        return

    table = Table(title=f"effective configuration ({environment})", show_lines=False)
    table.add_column("field")
    table.add_column("value")
    for section, values in data.items():
        if isinstance(values, dict):
            for key, value in values.items():
                table.add_row(f"{section}.{key}", json.dumps(value))
        else:
            table.add_row(section, json.dumps(values))
    console.print(table)
    console.print(f"config_hash: {config_hash(data)}")


STARTER = """\
# stratloop configuration (schema version 1). Validate it with:
#   stratloop config validate {name}
# Every key is checked: a typo is an error with a "did you mean", never ignored.
# Environment variables STRATLOOP_<SECTION>__<FIELD> override values here.
version: 1

generation:
  # true: always mutate the champion with the factor graph (no LLM, no cost)
  # false: always ask the LLM; null: draw each iteration against innovation_rate
  use_factor_graph: true
  # percent (0-100) chance of asking the LLM when use_factor_graph is null
  innovation_rate: 0
  # fail: an LLM failure fails the iteration; fallback_to_factor_graph: audited fallback
  on_llm_failure: fail

llm:
  enabled: false
  # any OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1 for Ollama
  base_url: null
  model: null
  # the NAME of the variable holding the key; the key itself never goes in this file
  api_key_env: OPENAI_API_KEY

data:
  # the packaged dataset (20 US stocks, 1990-2022) or a path to a CSV / Parquet file
  source: sp500-20

backtest:
  cost_bps: 10          # trading cost per unit of turnover, in basis points
  train_fraction: 0.7   # share of dates before the sealed holdout (selection region)
  benchmark: equal_weight  # equal_weight | none | a column of the data | a price CSV
  folds: 4              # walk-forward validation folds the champion is chosen on

loop:
  iterations: 200
  seed: 42
  runs_dir: runs

audit:
  path: audit/learning_audit.jsonl
  fsync: batch          # always | batch | never
"""


@command(app, "init")
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter configuration.")] = Path(
        "stratloop.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter configuration that validates."""
    if path.exists() and not force:
        fail(f"{path} already exists; use --force to overwrite it", EXIT_UNUSABLE)
    try:
        path.write_text(STARTER.format(name=path), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}", EXIT_UNUSABLE)
    console.print(f"wrote {path}; check it with: stratloop config validate {path}")
