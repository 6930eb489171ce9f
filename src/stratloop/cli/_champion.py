"""The champion as the command line prints it: validation beside the benchmark, verdict, holdout.

``stratloop run`` prints it when a run ends and ``stratloop show`` for any run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from stratloop.cli._app import console
from stratloop.cli._runs import EXCESS_ROWS
from stratloop.cli._runs import format_number as _fmt
from stratloop.errors import RunError

if TYPE_CHECKING:
    from stratloop.config.models import StratloopConfig

__all__ = ["print_champion", "stored_config"]

_SHOWN_METRICS = (
    "annual_return",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "turnover",
    "n_trades",
    "n_days",
)


def print_champion(root: Path, champion: Mapping[str, Any], config: StratloopConfig) -> None:
    """The champion's validation figures beside its benchmark's, the verdict, the holdout's state.

    No holdout figure is printed until ``stratloop holdout`` has opened it.
    """
    from stratloop.loop.history import read_history  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.loop.holdout import (  # noqa: PLC0415 - numpy; keep --help fast
        benchmark_label,
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
    label = benchmark_label(config.backtest.benchmark)
    bench = validation.get("benchmark") or {}
    table = Table("validation", "champion", label)
    for key in _SHOWN_METRICS:
        table.add_row(key, _fmt(validation.get(key)), _fmt(bench.get(key)))
    for key in EXCESS_ROWS:
        if key in validation:
            table.add_row(key, _fmt(validation[key]), "")
    factor = validation.get("factor") or {}
    for key in ("ic", "ic_t_stat", "rank_ic", "long_short", "turnover"):
        if key in factor:
            table.add_row(f"factor {key}", _fmt(factor[key]), "")
    console.print(table)
    train = champion.get("train") or {}
    metric = config.loop.champion_metric
    console.print(
        f"train block (what the search saw): {metric} {_fmt(train.get(metric))}, "
        f"sharpe {_fmt(train.get('sharpe'))}",
        markup=False,
    )
    judged = selection_verdict(champion, read_history(root / "history.jsonl").records, config)
    if judged is not None:
        console.print(
            f"deflated Sharpe of the validation excess: {judged.deflated_sharpe:.3f} "
            f"(N = {judged.n_trials} distinct candidates, V = {judged.variance:.3g})",
            markup=False,
        )
        console.print(f"verdict (validation): {judged.verdict.text}", markup=False, soft_wrap=True)
    looks = read_holdout(RunDir(root))
    if not looks:
        console.print(
            f"holdout: sealed (every date after {validation.get('end', '?')}); open it once "
            f"with `stratloop holdout {root.name}`",
            markup=False,
        )
        return
    last = looks[-1]
    held = last["holdout"]
    console.print(
        f"holdout (look {last['look']}, opened {last['opened']}, champion iteration "
        f"{last['iteration']}): sharpe {_fmt(held.get('sharpe'))} vs {label} "
        f"{_fmt((held.get('benchmark') or {}).get('sharpe'))}, excess return "
        f"{_fmt(held.get('excess_return'))}",
        markup=False,
    )
    console.print(f"verdict (holdout): {last['verdict']['text']}", markup=False, soft_wrap=True)


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
