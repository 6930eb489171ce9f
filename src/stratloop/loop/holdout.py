"""Judging a run's champion: the selection verdict, and the one look at the sealed holdout.

:func:`selection_verdict` (from :mod:`stratloop.report.selection`, re-exported
here) is what ``stratloop run``, ``stratloop show`` and the tear sheet show:
the champion's validation excess over the benchmark, deflated for the run's
trials. It reads only the history (every distinct candidate's validation
figures), never the holdout.

:func:`open_holdout` is ``stratloop holdout RUN_ID``: it evaluates the
champion on the holdout rows once, writes ``holdout.json`` in the run
directory and appends a holdout record to the audit trail. A second look at
the same run is refused unless ``again`` is given, and is recorded as such.

The figures (definitions in ``docs/statistics.md``):

- ``N``, ``V`` and the deflated Sharpe of the champion's validation excess
  returns, as :mod:`stratloop.report.selection` defines them (recomputed here
  from the daily returns).
- the holdout's excess t-test over the benchmark (one look, no selection).
- PBO by CSCV over the distinct trials' daily excess returns on the
  selection region (re-computed from their specs: the history keeps figures,
  not series), aligned on the days every trial has.
- the verdict: distinguishable when the holdout's excess is significant at
  5% on the first look (5% / k on the k-th), the deflated Sharpe and PBO
  reported beside it (:func:`stratloop.backtest.verdict.benchmark_verdict`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stratloop.audit import HoldoutAuditRecord
from stratloop.backtest.deflated import excess_deflated_sharpe, trial_sharpe_variance
from stratloop.backtest.overfitting import DEFAULT_BLOCKS, backtest_overfitting
from stratloop.backtest.verdict import Verdict, benchmark_verdict
from stratloop.config.models import StratloopConfig
from stratloop.errors import RunError
from stratloop.flags import instance_id
from stratloop.iteration import IterationRecord, candidate_from_json
from stratloop.loop.audit import RunAudit
from stratloop.loop.evaluation import evaluation_cache, load_run_panel
from stratloop.loop.history import read_history
from stratloop.loop.rundir import RunDir, atomic_write_json, utc_now
from stratloop.loop.runner import open_run
from stratloop.report.selection import (
    LEVEL,
    SelectionVerdict,
    benchmark_label,
    selection_verdict,
    trial_sharpes,
)
from stratloop.spec import Strategy

__all__ = [
    "HOLDOUT_FILE",
    "HoldoutResult",
    "SelectionVerdict",
    "benchmark_label",
    "open_holdout",
    "read_holdout",
    "selection_verdict",
]

HOLDOUT_FILE = "holdout.json"
"""The file in the run directory that records every look at the holdout."""

@dataclass(frozen=True, slots=True)
class HoldoutResult:
    """One look at a run's holdout, as ``holdout.json`` and the audit record keep it.

    Args:
        run_id: the run.
        iteration: the champion's iteration.
        candidate_id: the champion's id.
        expression: the champion's expression.
        look: 1 for the first look, 2 for the second, ...
        again: true when ``--again`` allowed this look.
        opened: when (UTC, ISO 8601).
        benchmark: the benchmark's name in sentences.
        holdout: the holdout segment's figures (strategy, benchmark, excess, factor).
        n_trials: ``N``.
        trial_sharpe_variance: ``V``.
        deflated_sharpe: the champion's validation deflated Sharpe on excess.
        pbo: the CSCV outcome over the trials, or None with fewer than 2 trials.
        verdict: the verdict.
    """

    run_id: str
    iteration: int
    candidate_id: str
    expression: str
    look: int
    again: bool
    opened: str
    benchmark: str
    holdout: Mapping[str, Any]
    n_trials: int
    trial_sharpe_variance: float
    deflated_sharpe: float
    pbo: Mapping[str, Any] | None
    verdict: Verdict

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe mapping, key for field."""
        return asdict(self)


def read_holdout(rundir: RunDir) -> list[dict[str, Any]]:
    """Every look at the run's holdout so far, oldest first (empty when it is still sealed)."""
    path = rundir.root / HOLDOUT_FILE
    if not path.is_file():
        return []
    looks: list[dict[str, Any]] = rundir.read_json(path)["looks"]
    return looks


def open_holdout(
    runs_dir: Path, run_id: str, *, again: bool = False, audit_path: Path | None = None
) -> HoldoutResult:
    """Evaluate the run's champion on its sealed holdout and record the look.

    Args:
        runs_dir: where the run directory is.
        run_id: the run.
        again: allow a second (third, ...) look; it is recorded as such.
        audit_path: overrides the run's ``audit.path``.

    Raises:
        RunError: the run has no champion, is running, its holdout was
            already opened (without ``again``), or its trials cannot be re-evaluated.
    """
    started = time.perf_counter()
    rundir, config = open_run(runs_dir, run_id)
    lock = rundir.lock()
    try:
        looks = read_holdout(rundir)
        if looks and not again:
            first = looks[0]
            raise RunError(
                f"the holdout of run {run_id} was already opened on {first['opened']} (champion "
                f"iteration {first['iteration']}); every further look spends it: pass --again "
                "to look once more, and the look is recorded as a repeated one"
            )
        if not rundir.champion.is_file():
            raise RunError(f"run {run_id} has no champion yet; there is nothing to hold out")
        champion = rundir.read_json(rundir.champion)
        records = read_history(rundir.history).records
        result = _evaluate(rundir, config, champion, records, look=len(looks) + 1, again=again)
        atomic_write_json(
            rundir.root / HOLDOUT_FILE, {"looks": [*looks, result.as_dict()]}
        )
        _audit(config, result, audit_path, time.perf_counter() - started)
    finally:
        lock.release()
    return result


def _evaluate(
    rundir: RunDir,
    config: StratloopConfig,
    champion: Mapping[str, Any],
    records: tuple[IterationRecord, ...],
    *,
    look: int,
    again: bool,
) -> HoldoutResult:
    from stratloop.backtest import Study  # noqa: PLC0415 - numpy-heavy; only here

    candidate = candidate_from_json(champion)
    study = Study(load_run_panel(config), config.backtest)
    cache = evaluation_cache(config)
    holdout = study.holdout(candidate.strategy, cache=cache)
    validation = study.evaluate(candidate.strategy, cache=cache).validation
    trials = _distinct(records)
    root = math.sqrt(config.backtest.annualization)
    sharpes = trial_sharpes(
        records, "information_ratio" if validation.excess is not None else "sharpe", root
    )
    bench = validation.benchmark_returns
    base = np.zeros_like(validation.returns) if bench is None else bench
    deflated = excess_deflated_sharpe(validation.returns, base, sharpes)
    variance = trial_sharpe_variance(sharpes, max(len(validation.returns), 2))
    pbo = _overfitting(study, trials, cache)
    summary = holdout.summary()
    excess = holdout.excess
    if excess is not None:
        t_stat, p_value = excess.t_stat, excess.p_value
    else:
        from stratloop.backtest.benchmark import excess_metrics  # noqa: PLC0415 - numpy

        zero = excess_metrics(holdout.returns, np.zeros_like(holdout.returns))
        t_stat, p_value = zero.t_stat, zero.p_value
    verdict = benchmark_verdict(
        t_stat=t_stat,
        p_value=p_value,
        look=look,
        deflated_sharpe=deflated,
        pbo=None if pbo is None else float(pbo["pbo"]),
        level=LEVEL,
        benchmark=benchmark_label(config.backtest.benchmark),
    )
    return HoldoutResult(
        run_id=rundir.run_id,
        iteration=int(champion["iteration"]),
        candidate_id=candidate.candidate_id,
        expression=candidate.strategy.expression,
        look=look,
        again=again,
        opened=utc_now(),
        benchmark=benchmark_label(config.backtest.benchmark),
        holdout=summary,
        n_trials=max(len(sharpes), 1),
        trial_sharpe_variance=variance,
        deflated_sharpe=deflated,
        pbo=pbo,
        verdict=verdict,
    )


def _distinct(records: Iterable[IterationRecord]) -> list[Strategy]:
    """The distinct evaluated strategies, in the order they were first tried."""
    seen: dict[str, Strategy] = {}
    for record in records:
        if record.evaluated and record.candidate is not None:
            seen.setdefault(record.candidate.candidate_id, record.candidate.strategy)
    return list(seen.values())


def _overfitting(study: Any, trials: list[Strategy], cache: Any) -> dict[str, Any] | None:
    """CSCV over the trials' daily selection-region excess returns, on the days all of them have.

    None with fewer than two trials, or too few common days for the blocks.
    """
    if len(trials) < 2:
        return None
    series = [study.selection_excess(strategy, cache=cache) for strategy in trials]
    first = max(start for start, _ in series)
    matrix = np.column_stack([returns[first - start :] for start, returns in series])
    if len(matrix) < 2 * DEFAULT_BLOCKS:
        return None
    return backtest_overfitting(matrix).as_dict()


def _audit(
    config: StratloopConfig, result: HoldoutResult, audit_path: Path | None, seconds: float
) -> None:
    audit = RunAudit(config, run_id=result.run_id, instance_id=instance_id(), path=audit_path)
    try:
        record = HoldoutAuditRecord(
            **audit.envelope(),
            iteration_num=result.iteration,
            candidate_id=result.candidate_id,
            expression=result.expression,
            look=result.look,
            again=result.again,
            metrics=json.loads(json.dumps(_audited(result))),
            verdict=result.verdict.text,
            seconds=seconds,
        )
        audit.append_holdout(record)
    finally:
        audit.close()


def _audited(result: HoldoutResult) -> dict[str, Any]:
    data = result.as_dict()
    return {
        key: data[key]
        for key in ("holdout", "n_trials", "trial_sharpe_variance", "deflated_sharpe", "pbo")
    }
