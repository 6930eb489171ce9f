"""``stratloop backtest`` (one strategy under the protocol) and ``stratloop factors``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from stratloop.cli._app import EXIT_UNUSABLE, app, command, console, fail
from stratloop.cli._runs import EXCESS_ROWS

if TYPE_CHECKING:
    from stratloop.backtest import Evaluation, Segment
    from stratloop.backtest.evaluate import Decay
    from stratloop.spec import Strategy

__all__ = ["backtest", "factors"]

_DEFAULT_TOP_N = 5


@command(app)
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
        float,
        typer.Option("--train-fraction", help="Share of dates before the holdout (selection)."),
    ] = 0.7,
    split_date: Annotated[
        str | None, typer.Option("--split-date", help="First holdout date (YYYY-MM-DD).")
    ] = None,
    benchmark: Annotated[
        str,
        typer.Option(
            "--benchmark", help="equal_weight, none, a column of the data or a price CSV file."
        ),
    ] = "equal_weight",
    folds: Annotated[
        int, typer.Option("--folds", min=1, max=20, help="Walk-forward validation folds.")
    ] = 4,
    holdout: Annotated[
        bool,
        typer.Option(
            "--holdout", help="Also open the sealed holdout (spends it: keep it for the end)."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    returns_csv: Annotated[
        Path | None,
        typer.Option("--returns-csv", help="Write daily strategy and benchmark returns to FILE."),
    ] = None,
) -> None:
    """Backtest one strategy on the train block and the validation folds, beside its benchmark.

    An expression gets a top-5, 21-day portfolio unless --top-n / --long-short /
    --rebalance say otherwise; those options also override a spec file's rule.
    The holdout stays sealed unless --holdout is given.
    """
    from stratloop.backtest import Study  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.config.models import BacktestConfig  # noqa: PLC0415 - pydantic; keep --help fast
    from stratloop.data import load_panel  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.factors import Limits, check_strategy  # noqa: PLC0415 - numpy; keep --help fast

    strategy = _strategy(spec_or_expr, top_n, long_short, rebalance)
    config = BacktestConfig(
        cost_bps=cost_bps,
        train_fraction=train_fraction,
        split_date=None if split_date is None else _date(split_date),
        benchmark=benchmark,
        folds=folds,
    )
    panel = load_panel(data)
    check_strategy(strategy, fields=frozenset(panel.fields), limits=Limits())
    study = Study(panel, config)
    evaluation = study.evaluate(strategy)
    opened = study.holdout(strategy) if holdout else None
    decay = study.decay(strategy)
    if returns_csv is not None:
        from stratloop.report import champion_series  # noqa: PLC0415 - numpy; keep --help fast

        returns_csv.write_text(champion_series(strategy, panel, config).csv_text())
    if as_json:
        payload = {
            "strategy": strategy.model_dump(mode="json"),
            "data": data,
            "cost_bps": cost_bps,
            **evaluation.as_dict(),
            "holdout": None if opened is None else opened.summary(),
            "ic_decay": decay.as_dict(),
        }
        typer.echo(json.dumps(payload, indent=2, allow_nan=False))
        return
    _report(strategy, data, evaluation, opened, decay)


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


def _report(
    strategy: Strategy,
    data: str,
    evaluation: Evaluation,
    holdout: Segment | None,
    decay: Decay,
) -> None:
    from stratloop.backtest import METRIC_NAMES  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.backtest.verdict import benchmark_verdict  # noqa: PLC0415 - numpy

    segments = [evaluation.train, evaluation.validation]
    if holdout is not None:
        segments.append(holdout)
    rule = ", ".join(f"{k}={v}" for k, v in strategy.portfolio.model_dump(mode="json").items())
    console.print(strategy.expression, markup=False, soft_wrap=True, style="bold")
    console.print(
        f"portfolio: {rule}; data: {data}; benchmark: {evaluation.benchmark}",
        markup=False,
        soft_wrap=True,
    )
    validation = evaluation.validation
    console.print(
        f"train {evaluation.train.start} to {evaluation.train.end}; validation: "
        f"{len(evaluation.folds)} folds from {evaluation.folds[0].start} to "
        f"{evaluation.folds[-1].end} (purge {evaluation.purge} days); holdout from "
        f"{evaluation.holdout_start}" + ("" if holdout is not None else " (sealed: --holdout)"),
        markup=False,
    )
    summaries = [segment.summary() for segment in segments]
    names = [segment.name for segment in segments]
    console.print(_table("strategy", names, [(n, [s[n] for s in summaries]) for n in METRIC_NAMES]))
    if validation.benchmark is not None:
        rows = [
            (f"benchmark {name}", [s["benchmark"][name] for s in summaries])
            for name in ("annual_return", "sharpe", "max_drawdown")
        ]
        rows += [(name, [s[name] for s in summaries]) for name in EXCESS_ROWS]
        console.print(_table("against the benchmark", names, rows))
    factor = [(name, [s["factor"][name] for s in summaries]) for name in _FACTOR_ROWS]
    console.print(_table(f"factor (horizon {validation.factor.horizon} days)", names, factor))
    folds = Table(title="validation folds")
    for column in ("fold", "train window", "validation window", "sharpe", "information_ratio"):
        folds.add_column(column)
    for number, (fold, window) in enumerate(
        zip(evaluation.folds, evaluation.fold_train, strict=True), start=1
    ):
        ratio = None if fold.excess is None else fold.excess.information_ratio
        folds.add_row(
            str(number),
            f"{window[0]} to {window[1]}",
            f"{fold.start} to {fold.end}",
            _show(fold.metrics.sharpe),
            _show(ratio),
        )
    console.print(folds)
    console.print(
        "IC decay over the selection region, horizon: mean IC  "
        + "  ".join(f"{h}: {ic:.3f}" for h, ic in zip(decay.horizons, decay.ic, strict=True)),
        markup=False,
        soft_wrap=True,
    )
    for segment in segments[1:]:
        if segment.excess is not None:
            verdict = benchmark_verdict(
                t_stat=segment.excess.t_stat,
                p_value=segment.excess.p_value,
                benchmark=evaluation.benchmark.replace("_", " "),
            )
            console.print(f"{segment.name}: {verdict.text}", markup=False, soft_wrap=True)


_FACTOR_ROWS = (
    "ic",
    "icir",
    "ic_t_stat",
    "rank_ic",
    "rank_icir",
    "rank_ic_t_stat",
    "days",
    "long_short",
    "turnover",
    "autocorrelation",
)


def _table(title: str, names: list[str], rows: list[tuple[str, list[Any]]]) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    for name in names:
        table.add_column(name, justify="right")
    for label, values in rows:
        table.add_row(label, *(_show(value) for value in values))
    return table


def _show(value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}"
