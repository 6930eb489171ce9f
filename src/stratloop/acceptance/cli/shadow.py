"""``stratloop shadow …``: shadow mode from the deployment guide's Phase 3.

Every command runs the procedural path (control) and the strategy pattern
(candidate) on the same seeded iterations with the real generators (the LLM
side against a loopback scripted endpoint unless ``--llm-endpoint configured``)
and compares their decision, method and candidate per iteration.

- ``generate-logs`` writes one log per side; ``compare`` compares two logs;
  ``run`` writes the candidate's log and compares it with the live control.
- ``daily-validation`` observes the day's own sample (seeded from the run seed
  and ``--date``, so re-running a day reproduces it) and keeps a report per day.
- ``production`` observes the iterations a ``--percentage`` selects through the
  stable-hash rollout buckets, until ``--duration-hours`` of wall-clock time
  or ``--max-iterations`` observed iterations, whichever comes first.

Every command that runs the generators takes ``--champion``: ``reference``
(the default: the factor library's reference strategy), ``latest-run`` (the
champion of the environment's latest run) or ``none``. With a champion, each
factor-graph iteration mutates it on both sides, as the real loop does after
its first batch; ``none`` compares fresh sampling only. The outputs record the
champion's source and strategy id.

Each exits 0 only when the equivalence reaches ``--threshold`` (1 otherwise).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from stratloop.acceptance.cli import rehearsal
from stratloop.cli._app import command, console, fail, group
from stratloop.cli._options import EnvironmentOption
from stratloop.flags import EnvFlagSource, in_rollout, instance_id

if TYPE_CHECKING:
    from stratloop.acceptance.shadow import Comparison, ShadowSession
    from stratloop.config.models import StratloopConfig

__all__ = ["shadow_app"]

shadow_app = group("shadow", "Shadow mode: Phase 1-2 against Phase 3.")

Iterations = Annotated[int, typer.Option("--iterations", "-n", min=1, help="Iterations to run.")]
Threshold = Annotated[
    float, typer.Option("--threshold", min=0.0, max=1.0, help="Minimum equivalence, 0-1.")
]


class Champion(str, Enum):
    """Which champion both sides mutate on factor-graph iterations."""

    none = "none"
    reference = "reference"
    latest_run = "latest-run"


ChampionOption = Annotated[
    Champion,
    typer.Option(
        "--champion",
        help="reference: mutate the factor library's reference strategy; latest-run: mutate "
        "the champion of the environment's latest run; none: sample fresh factors only.",
    ),
]


def _session(
    environment: str,
    endpoint: rehearsal.Endpoint,
    iterations: Callable[[StratloopConfig], Iterable[int]],
    champion: Champion,
    *,
    overrides: dict[str, Any] | None = None,
    max_iterations: int | None = None,
    duration_s: float | None = None,
) -> tuple[ShadowSession, dict[str, Any]]:
    """Run a session on the real generators; return it and the metadata its outputs carry."""
    from stratloop.acceptance.shadow import (  # noqa: PLC0415 - numpy; keep --help fast
        choose_champion,
        log_basis,
        run_session,
    )
    from stratloop.loop.evaluation import load_run_panel  # noqa: PLC0415 - pandas; --help fast

    with rehearsal.generators(environment, endpoint, overrides) as made:
        console.print(made.note)
        chosen = choose_champion(champion.value, made.factor_graph, Path(made.config.loop.runs_dir))
        console.print(f"champion: {chosen.describe()}")
        session = run_session(
            made.config,
            made.llm,
            made.factor_graph,
            iterations(made.config),
            max_iterations=max_iterations,
            duration_s=duration_s,
            champion=chosen.snapshot,
        )
        basis = log_basis(
            made.config,
            load_run_panel(made.config),
            session.observed,
            scripted=endpoint is rehearsal.Endpoint.scripted,
        )
    if session.internal_errors:
        shown = "; ".join(f"{e.operation}: {e.error}" for e in session.internal_errors[:5])
        count = len(session.internal_errors)
        fail(f"shadow experiment failed internally {count} times: {shown}")
    meta = {
        "environment": environment,
        "seed": made.config.loop.seed,
        "generators": made.note,
        "champion": chosen.as_dict(),
        "basis": basis,
        "iterations": len(session.observed),
        "llm_calls": session.llm_calls,
        "elapsed_s": round(session.elapsed_s, 3),
    }
    return session, meta


def _first(count: int) -> Callable[[StratloopConfig], Iterable[int]]:
    """Iterations 0 .. count - 1."""
    return lambda _config: range(count)


def _report(
    comparison: Comparison, threshold: float, output: Path | None, extra: dict[str, Any]
) -> None:
    table = Table(title="Shadow mode: behavioural equivalence")
    for column in ("iterations", "matched", "mismatched", "ignored", "equivalence", "threshold"):
        table.add_column(column)
    table.add_row(
        str(comparison.total),
        str(comparison.matched),
        str(len(comparison.mismatches)),
        str(comparison.ignored),
        f"{comparison.equivalence:.2%}",
        f"{threshold:.2%}",
    )
    console.print(table)
    for mismatch in comparison.mismatches[:10]:
        console.print(f"iteration {mismatch.iteration}: differs in {', '.join(mismatch.fields)}")
    passed = comparison.passes(threshold)
    report = {**extra, "threshold": threshold, "passed": passed, **comparison.as_dict()}
    rehearsal.write_json(output, report)
    if comparison.total == 0:
        fail("no iteration was compared, so equivalence is unproven; run more iterations")
    if not passed:
        fail(f"equivalence {comparison.equivalence:.2%} is below the threshold {threshold:.2%}")
    console.print(f"equivalence {comparison.equivalence:.2%} >= {threshold:.2%}")


@command(shadow_app, "generate-logs")
def generate_logs(
    phase1_2: Annotated[Path, typer.Option("--phase1-2", help="Write the Phase 1-2 log here.")],
    phase3: Annotated[Path, typer.Option("--phase3", help="Write the Phase 3 log here.")],
    iterations: Iterations = 100,
    environment: EnvironmentOption = "local",
    llm_endpoint: rehearsal.LLMEndpointOption = rehearsal.Endpoint.scripted,
    champion: ChampionOption = Champion.reference,
) -> None:
    """Run both paths on the same seeded iterations and write one log each."""
    from stratloop.acceptance.shadow import write_log  # noqa: PLC0415 - numpy; keep --help fast

    session, meta = _session(environment, llm_endpoint, _first(iterations), champion)
    write_log(phase1_2, session.control, {**meta, "implementation": "procedural"})
    write_log(phase3, session.candidate, {**meta, "implementation": "strategy_pattern"})
    console.print(
        f"wrote {len(session.control)} records to {phase1_2} "
        f"and {len(session.candidate)} to {phase3}"
    )


@command(shadow_app, "compare")
def compare(
    old: Annotated[Path, typer.Option("--old", help="The Phase 1-2 (control) log.")],
    new: Annotated[Path, typer.Option("--new", help="The Phase 3 (candidate) log.")],
    threshold: Threshold = 0.95,
    output: rehearsal.OutputOption = None,
) -> None:
    """Share of iterations whose decision, method and candidate id match."""
    from stratloop.acceptance.shadow import compare_logs  # noqa: PLC0415 - numpy; keep --help fast

    comparison = compare_logs(old, new)
    _report(comparison, threshold, output, {"old": str(old), "new": str(new)})


@command(shadow_app, "run")
def run(
    output: Annotated[Path, typer.Option("--output", "-o", help="Write the Phase 3 log here.")],
    iterations: Iterations = 100,
    environment: EnvironmentOption = "local",
    threshold: Threshold = 0.95,
    llm_endpoint: rehearsal.LLMEndpointOption = rehearsal.Endpoint.scripted,
    champion: ChampionOption = Champion.reference,
) -> None:
    """Run shadow mode, write the Phase 3 log, and compare it with the live Phase 1-2 path."""
    from stratloop.acceptance.shadow import write_log  # noqa: PLC0415 - numpy; keep --help fast

    session, meta = _session(environment, llm_endpoint, _first(iterations), champion)
    write_log(output, session.candidate, {**meta, "implementation": "strategy_pattern"})
    console.print(f"wrote {len(session.candidate)} records to {output}")
    _report(session.compare(), threshold, None, meta)


@command(shadow_app, "daily-validation")
def daily_validation(
    date: Annotated[
        dt.datetime,
        typer.Option("--date", formats=["%Y-%m-%d"], help="The day validated, YYYY-MM-DD."),
    ],
    environment: EnvironmentOption = "local",
    iterations: Iterations = 100,
    threshold: Threshold = 0.95,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="The day's report (default logs/shadow/ENV/DATE.json)."
        ),
    ] = None,
    llm_endpoint: rehearsal.LLMEndpointOption = rehearsal.Endpoint.scripted,
    champion: ChampionOption = Champion.reference,
) -> None:
    """Validate equivalence on the day's own seeded sample and keep the day's report."""
    from stratloop.acceptance.shadow import daily_seed  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.environments import (  # noqa: PLC0415 - pydantic; keep --help fast
        load_environment,
    )

    day = date.date()
    base = load_environment(environment).load_config(flags=EnvFlagSource().current())
    seed = daily_seed(base.loop.seed, day)
    target = output or Path("logs") / "shadow" / environment / f"{day.isoformat()}.json"
    session, meta = _session(
        environment, llm_endpoint, _first(iterations), champion, overrides={"loop.seed": seed}
    )
    meta.update(date=day.isoformat(), run_seed=base.loop.seed)
    console.print(f"{day.isoformat()}: seed {seed} (from run seed {base.loop.seed} and the date)")
    _report(session.compare(), threshold, target, meta)


@command(shadow_app, "production")
def production(
    percentage: Annotated[
        float,
        typer.Option(
            "--percentage", min=0.0, max=100.0, help="Share of iterations shadowed, (0, 100]."
        ),
    ],
    duration_hours: Annotated[
        float,
        typer.Option("--duration-hours", min=0.0, help="Wall-clock bound on the run, hours."),
    ],
    output: rehearsal.OutputOption = None,
    max_iterations: Annotated[
        int,
        typer.Option(
            "--max-iterations",
            min=0,
            help="Stop after this many shadowed iterations, even before --duration-hours "
            "(0: no cap, run for the whole duration).",
        ),
    ] = 500,
    environment: EnvironmentOption = "production",
    threshold: Threshold = 0.95,
    llm_endpoint: rehearsal.LLMEndpointOption = rehearsal.Endpoint.scripted,
    champion: ChampionOption = Champion.reference,
) -> None:
    """Shadow the iterations a percentage rollout selects, for a duration or an iteration cap."""
    from stratloop.acceptance.shadow import (  # noqa: PLC0415 - numpy; keep --help fast
        ROLLOUT_FLAG,
        rollout_iterations,
    )

    if percentage <= 0.0:
        raise typer.BadParameter("must be above 0", param_hint="--percentage")
    session, meta = _session(
        environment,
        llm_endpoint,
        lambda config: rollout_iterations(config.loop.seed, percentage),
        champion,
        max_iterations=max_iterations or None,
        duration_s=duration_hours * 3600.0,
    )
    instance = instance_id()
    member = in_rollout(ROLLOUT_FLAG, instance, percentage)
    console.print(
        f"{len(session.observed)} iterations shadowed ({percentage:g}% by stable hash of "
        f"{ROLLOUT_FLAG} and '<seed>:<iteration>') in {session.elapsed_s:.1f} s; stopped by "
        f"{session.stopped_by}; instance {instance} is "
        f"{'inside' if member else 'outside'} the {percentage:g}% rollout"
    )
    meta.update(
        percentage=percentage,
        duration_hours=duration_hours,
        max_iterations=max_iterations,
        stopped_by=session.stopped_by,
        instance_id=instance,
        instance_in_rollout=member,
    )
    _report(session.compare(), threshold, output, meta)
