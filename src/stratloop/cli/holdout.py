"""``stratloop holdout RUN_ID``: the one, recorded look at a run's sealed holdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stratloop.cli._app import app, command, console
from stratloop.cli._runs import RunIdArgument, find_run, search_dirs
from stratloop.cli.run import ConfigOption, EnvironmentNameOption, RunsDirOption

__all__ = ["holdout"]


@command(app, "holdout")
def holdout(
    run_id: RunIdArgument,
    again: Annotated[
        bool,
        typer.Option(
            "--again", help="Look again at a holdout already opened (recorded as a repeat)."
        ),
    ] = False,
    config: ConfigOption = None,
    environment: EnvironmentNameOption = None,
    runs_dir: RunsDirOption = None,
    audit_path: Annotated[
        Path | None, typer.Option("--audit-path", help="The audit trail (default: the run's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Evaluate a run's champion on the sealed holdout, once, and record it in the audit trail.

    Prints the holdout metrics beside the benchmark's, the excess, the deflated
    Sharpe on excess (N distinct candidates, V their observed variance), the
    probability of backtest overfitting over the run's trials, and the verdict.
    A second look is refused unless --again is given.
    """
    from stratloop.loop.holdout import open_holdout  # noqa: PLC0415 - numpy; keep --help fast

    directory, found = find_run(run_id, search_dirs(config, environment, runs_dir))
    result = open_holdout(directory, found, again=again, audit_path=audit_path)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2, allow_nan=False))
        return
    held = result.holdout
    bench = held.get("benchmark") or {}
    console.print(
        f"run {result.run_id}: holdout of the champion (iteration {result.iteration}, id "
        f"{result.candidate_id}), {held['start']} to {held['end']}, look {result.look}"
        + (" (--again)" if result.again else ""),
        markup=False,
    )
    console.print(result.expression, markup=False, soft_wrap=True, style="bold")
    table = Table("holdout", "champion", result.benchmark)
    for key in ("annual_return", "volatility", "sharpe", "max_drawdown", "turnover", "n_days"):
        table.add_row(key, _fmt(held.get(key)), _fmt(bench.get(key)))
    for key in ("excess_return", "tracking_error", "information_ratio", "beta", "excess_t_stat"):
        if key in held:
            table.add_row(key, _fmt(held[key]), "")
    factor = held.get("factor") or {}
    for key in ("ic", "ic_t_stat", "rank_ic", "long_short"):
        table.add_row(f"factor {key}", _fmt(factor.get(key)), "")
    console.print(table)
    console.print(
        f"deflated Sharpe of the validation excess: {result.deflated_sharpe:.3f} "
        f"(N = {result.n_trials} distinct candidates, V = {result.trial_sharpe_variance:.3g})",
        markup=False,
    )
    pbo = result.pbo
    console.print(
        "PBO (CSCV over the run's trials): "
        + ("n/a (fewer than two trials)" if pbo is None else f"{pbo['pbo']:.3f}"),
        markup=False,
    )
    console.print(f"verdict: {result.verdict.text}", markup=False, soft_wrap=True)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)
