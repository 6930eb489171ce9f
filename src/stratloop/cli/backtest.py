"""``stratloop backtest`` (one strategy's train and test metrics) and ``stratloop factors``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from stratloop.cli._app import EXIT_UNUSABLE, app, console, fail, handle_errors

if TYPE_CHECKING:
    from stratloop.backtest import Evaluation
    from stratloop.spec import Strategy

__all__ = ["backtest", "factors"]

_DEFAULT_TOP_N = 5


@app.command()
@handle_errors
def backtest(
    spec_or_expr: Annotated[
        str,
        typer.Argument(
            metavar="SPEC_OR_EXPR",
            help="A signal expression, a factor template name (momentum_12_1, see `stratloop "
            "factors`) at its defaults, or a .json / .yaml spec file (a champion.json too).",
        ),
    ],
    data: Annotated[
        str, typer.Option("--data", help="A packaged dataset name or a CSV / Parquet path.")
    ] = "sp500-20",
    top_n: Annotated[
        int | None, typer.Option("--top-n", min=1, help="Hold the N highest signals long.")
    ] = None,
    long_short: Annotated[
        float | None,
        typer.Option("--long-short", min=0.0, max=0.5, help="Long top / short bottom quantile Q."),
    ] = None,
    rebalance: Annotated[
        int | None, typer.Option("--rebalance", min=1, max=252, help="Rebalance every D days.")
    ] = None,
    cost_bps: Annotated[
        float, typer.Option("--cost-bps", min=0.0, max=10_000.0, help="Cost in bps of turnover.")
    ] = 10.0,
    train_fraction: Annotated[
        float, typer.Option("--train-fraction", help="Share of dates used for training.")
    ] = 0.7,
    split_date: Annotated[
        str | None, typer.Option("--split-date", help="First test date (YYYY-MM-DD).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    returns_csv: Annotated[
        Path | None,
        typer.Option("--returns-csv", help="Write daily strategy and benchmark returns to FILE."),
    ] = None,
) -> None:
    """Backtest one strategy and print its train and test metrics.

    An expression gets a top-5, 21-day portfolio unless --top-n / --long-short /
    --rebalance say otherwise; those options also override a spec file's rule.
    """
    from stratloop.backtest import evaluate_strategy  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.config.models import BacktestConfig  # noqa: PLC0415 - pydantic; keep --help fast
    from stratloop.data import load_panel  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.factors import Limits, check_strategy  # noqa: PLC0415 - numpy; keep --help fast

    strategy = _strategy(spec_or_expr, top_n, long_short, rebalance)
    config = BacktestConfig(
        cost_bps=cost_bps,
        train_fraction=train_fraction,
        split_date=None if split_date is None else _date(split_date),
    )
    panel = load_panel(data)
    check_strategy(strategy, fields=frozenset(panel.fields), limits=Limits())
    evaluation = evaluate_strategy(strategy, panel, config)
    if returns_csv is not None:
        from stratloop.report import champion_series  # noqa: PLC0415 - numpy; keep --help fast

        returns_csv.write_text(champion_series(strategy, panel, config).csv_text())
    if as_json:
        payload = {
            "strategy": strategy.model_dump(mode="json"),
            "data": data,
            "cost_bps": cost_bps,
            **evaluation.as_dict(),
        }
        typer.echo(json.dumps(payload, indent=2, allow_nan=False))
        return
    _table(strategy, data, evaluation)


@app.command()
def factors() -> None:
    """List the factor library's templates and the DSL's operators."""
    from rich.markdown import Markdown  # noqa: PLC0415 - markdown-it; keep --help fast

    from stratloop.factors import (  # noqa: PLC0415 - numpy; keep --help fast
        default_library,
        dsl_reference,
    )

    table = Table(title="Factor library")
    for column in ("name", "template", "parameters", "description"):
        table.add_column(column)
    for template in default_library().templates:
        params = ", ".join(
            f"{name} {r.low}..{r.high} (default {r.default})"
            for name, r in template.params.items()
        )
        table.add_row(template.name, template.template, params, template.description)
    console.print(table)
    console.print(Markdown(dsl_reference()))


def _strategy(
    spec_or_expr: str, top_n: int | None, long_short: float | None, rebalance: int | None
) -> Strategy:
    from stratloop.backtest.specfile import (  # noqa: PLC0415 - numpy; keep --help fast
        SPEC_SUFFIXES,
        load_strategy,
        strategy_from_data,
    )
    from stratloop.factors import default_library  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.spec import LongShort, TopN  # noqa: PLC0415 - numpy; keep --help fast

    if top_n is not None and long_short is not None:
        fail("--top-n and --long-short choose different portfolio rules; give only one")
    library = default_library()
    if spec_or_expr in library:
        template = library.get(spec_or_expr)
        spec_or_expr = template.render(template.defaults())
    if spec_or_expr.lower().endswith(SPEC_SUFFIXES):
        if not Path(spec_or_expr).is_file():
            fail(f"spec file {spec_or_expr} does not exist", EXIT_UNUSABLE)
        strategy = load_strategy(spec_or_expr)
    else:
        default = {"kind": "top_n", "n": _DEFAULT_TOP_N}
        strategy = strategy_from_data(
            {"expression": spec_or_expr, "portfolio": default}, "the expression"
        )
    days = rebalance if rebalance is not None else strategy.portfolio.rebalance_days
    if top_n is not None:
        rule: TopN | LongShort = TopN(n=top_n, rebalance_days=days)
    elif long_short is not None:
        if long_short <= 0.0:
            fail(f"--long-short must be above 0 and at most 0.5, got {long_short}")
        rule = LongShort(quantile=long_short, rebalance_days=days)
    else:
        return strategy.model_copy(
            update={"portfolio": strategy.portfolio.model_copy(update={"rebalance_days": days})}
        )
    return strategy.model_copy(update={"portfolio": rule})


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"--split-date must be a date YYYY-MM-DD, got {text!r}")


def _table(strategy: Strategy, data: str, evaluation: Evaluation) -> None:
    from stratloop.backtest import METRIC_NAMES  # noqa: PLC0415 - numpy; keep --help fast

    train, test = evaluation.train.as_dict(), evaluation.test.as_dict()
    rule = ", ".join(f"{k}={v}" for k, v in strategy.portfolio.model_dump(mode="json").items())
    console.print(strategy.expression, markup=False, soft_wrap=True, style="bold")
    console.print(f"portfolio: {rule}; data: {data}", markup=False, soft_wrap=True)
    console.print(
        f"train {evaluation.train_start} to {evaluation.split_date} (excl.), "
        f"test {evaluation.split_date} to {evaluation.end_date}",
        markup=False,
    )
    table = Table()
    table.add_column("metric")
    table.add_column("train", justify="right")
    table.add_column("test", justify="right")
    for name in METRIC_NAMES:
        table.add_row(name, _show(train[name]), _show(test[name]))
    console.print(table)


def _show(value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}"
