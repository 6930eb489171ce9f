"""The champion as the command line prints it: one table, then one verdict block.

``stratloop run`` prints it when a run ends, ``stratloop show`` for any run
and ``stratloop report`` beside the tear sheet, all from the run directory
(``champion.json``, the history, ``holdout.json``), so they always agree.

The table sets the champion beside its benchmark on each segment (train,
validation, and the holdout once opened) with their dates and the dataset.
The verdict block says which verdict is deflated: the selection verdict on the
validation excess, deflated for every distinct candidate tried
(:func:`stratloop.report.selection.selection_verdict`), which the tear sheet
shows too. Each segment's own excess t-statistic is listed after it as a
single comparison, never as a verdict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from stratloop.cli._app import console
from stratloop.cli._runs import format_number as _fmt
from stratloop.errors import RunError

if TYPE_CHECKING:
    from stratloop.config.models import StratloopConfig
    from stratloop.report.selection import SelectionVerdict

__all__ = ["champion_table", "print_champion", "stored_config"]

_SHOWN_METRICS = (
    ("annual_return", True),
    ("volatility", True),
    ("sharpe", False),
    ("sortino", False),
    ("max_drawdown", True),
    ("calmar", False),
    ("turnover", False),
    ("n_trades", False),
    ("n_days", False),
)
"""The metrics shown for the strategy and its benchmark, and whether each reads as a percentage."""

_SHOWN_EXCESS = (
    ("excess_return", True),
    ("tracking_error", True),
    ("information_ratio", False),
    ("beta", False),
    ("excess_t_stat", False),
    ("excess_p_value", False),
)
"""The excess over the benchmark (strategy columns only)."""

_SHOWN_FACTOR = ("ic", "ic_t_stat", "rank_ic", "long_short")


def _cell(value: Any, percent: bool) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value * 100:.2f}%" if percent else f"{value:.3f}"


def _segments(
    champion: Mapping[str, Any], looks: list[dict[str, Any]]
) -> list[tuple[str, Mapping[str, Any]]]:
    """``(name, figures)`` of train, validation and, once opened for this champion, holdout."""
    found = [
        (name, champion[name])
        for name in ("train", "validation")
        if isinstance(champion.get(name), Mapping)
    ]
    opened = [look for look in looks if look.get("iteration") == champion.get("iteration")]
    if opened:
        found.append(("holdout", opened[-1]["holdout"]))
    return found


def champion_table(
    champion: Mapping[str, Any], config: StratloopConfig, looks: list[dict[str, Any]]
) -> Table:
    """The champion beside its benchmark on each segment, with dates, dataset and holdout state."""
    from stratloop.report.selection import (  # noqa: PLC0415 - numpy; keep --help fast
        benchmark_label,
    )

    label = benchmark_label(config.backtest.benchmark)
    segments = _segments(champion, looks)
    spans = ", ".join(
        f"{name} {figures.get('start', '?')} to {figures.get('end', '?')}"
        for name, figures in segments
    )
    opened = any(name == "holdout" for name, _ in segments)
    table = Table(
        title=(
            f"champion vs {label} (EW) on {config.data.source}: {spans}; "
            f"holdout {'opened' if opened else 'sealed'}"
        )
    )
    table.add_column("metric", no_wrap=True)
    for name, _ in segments:
        table.add_column(name, justify="right", min_width=len(name))
        table.add_column(f"{name} EW" if len(segments) < 3 else "EW", justify="right")
    for key, percent in _SHOWN_METRICS:
        row = [key]
        for _, figures in segments:
            bench = figures.get("benchmark") or {}
            row += [_cell(figures.get(key), percent), _cell(bench.get(key), percent)]
        table.add_row(*row)
    for key, percent in _SHOWN_EXCESS:
        row = [key]
        for _, figures in segments:
            row += [_cell(figures.get(key), percent), ""]
        table.add_row(*row)
    for key in _SHOWN_FACTOR:
        row = [f"factor {key}"]
        for _, figures in segments:
            row += [_cell((figures.get("factor") or {}).get(key), False), ""]
        table.add_row(*row)
    return table


def print_champion(
    root: Path,
    champion: Mapping[str, Any],
    config: StratloopConfig,
    selection: SelectionVerdict | None = None,
) -> None:
    """The one champion table, then the verdict block: the deflated verdict, then the holdout's.

    Args:
        root: the run directory.
        champion: its ``champion.json``.
        config: its configuration.
        selection: the deflated verdict when the caller has it (else read from the history).

    No holdout figure is printed until ``stratloop holdout`` has opened it.
    """
    from stratloop.loop.history import read_history  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.loop.holdout import (  # noqa: PLC0415 - numpy; keep --help fast
        read_holdout,
        selection_verdict,
    )
    from stratloop.loop.rundir import RunDir  # noqa: PLC0415 - numpy; keep --help fast

    validation = champion.get("validation")
    if not isinstance(validation, Mapping):
        table = Table("metric", "train")
        for key, value in sorted(champion["train"].items()):
            table.add_row(key, _fmt(value))
        console.print(table)
        console.print("chosen on train metrics under the old train/test protocol (schema 1-2)")
        return
    looks = read_holdout(RunDir(root))
    console.print(champion_table(champion, config, looks))
    if selection is None:
        records = read_history(root / "history.jsonl").records
        selection = selection_verdict(champion, records, config)
    if selection is not None:
        for line in _verdict_lines(selection, champion):
            console.print(line, markup=False, soft_wrap=True)
    if not looks:
        console.print(
            f"holdout: sealed (every date after {validation.get('end', '?')}); open it once "
            f"with `stratloop holdout {root.name}`",
            markup=False,
        )
        return
    last = looks[-1]
    console.print(
        f"holdout: look {last['look']}, opened {last['opened']}, champion iteration "
        f"{last['iteration']}",
        markup=False,
    )
    console.print(
        f"verdict (holdout, one look at unseen dates): {last['verdict']['text']}",
        markup=False,
        soft_wrap=True,
    )


def _verdict_lines(selection: SelectionVerdict, champion: Mapping[str, Any]) -> list[str]:
    """The verdict block: the deflated verdict, its figures, then the undeflated comparisons."""
    single = "; ".join(
        f"{name} excess t = {_cell(figures.get('excess_t_stat'), False)}, "
        f"p = {_cell(figures.get('excess_p_value'), False)}"
        for name in ("train", "validation")
        if isinstance(figures := champion.get(name), Mapping) and "excess_t_stat" in figures
    )
    lines = [
        f"verdict (deflated, on the validation excess): {selection.headline} at "
        f"{selection.verdict.level:.0%}",
        f"  {selection.evidence}",
    ]
    if single:
        lines.append(f"  not deflated, single comparisons (no verdict): {single}")
    return lines


def stored_config(root: Path) -> StratloopConfig:
    """The configuration a run directory's ``config.json`` holds."""
    from stratloop.config.models import (  # noqa: PLC0415 - pydantic; keep --help fast
        StratloopConfig,
    )

    payload = json.loads((root / "config.json").read_text(encoding="utf-8"))
    try:
        return StratloopConfig.model_validate_json(json.dumps(payload["config"]))
    except (KeyError, ValueError) as exc:
        raise RunError(
            f"{root / 'config.json'} does not hold a valid configuration: {exc}"
        ) from exc
