"""``stratloop shadow …``: shadow mode from the deployment guide's Phase 3.

``generate-logs`` and ``run`` run the procedural path (control) and the
strategy pattern (candidate) on the same seeded iterations and write their
per-iteration outputs; ``compare`` reports the share of iterations whose
decision, method and candidate id match, and exits 0 only when it reaches
``--threshold``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stratloop.cli._app import app, console, fail, handle_errors
from stratloop.cli._options import EnvironmentOption
from stratloop.cli.check_phase3 import environment_config, generators, write_json

if TYPE_CHECKING:
    from stratloop.shadow import Comparison, ShadowRecord

__all__ = ["shadow"]

shadow = typer.Typer(
    name="shadow", help="Shadow mode: Phase 1-2 against Phase 3.", no_args_is_help=True
)
app.add_typer(shadow)

Iterations = Annotated[int, typer.Option("--iterations", "-n", min=1)]
Threshold = Annotated[float, typer.Option("--threshold", min=0.0, max=1.0)]


def _run(
    environment: str, iterations: int
) -> tuple[tuple[ShadowRecord, ...], tuple[ShadowRecord, ...], dict[str, object]]:
    from stratloop.shadow import ShadowExperiment  # noqa: PLC0415 - keep --help fast

    config = environment_config(environment)
    llm, factor_graph = generators()
    experiment = ShadowExperiment(config, llm, factor_graph)
    control: list[ShadowRecord] = []
    candidate: list[ShadowRecord] = []
    for iteration in range(iterations):
        result = experiment.run(iteration)
        if result is None:
            continue
        if result.control.record is not None:
            control.append(result.control.record)
        if result.candidate.record is not None:
            candidate.append(result.candidate.record)
    if experiment.internal_errors:
        shown = "; ".join(f"{e.operation}: {e.error}" for e in experiment.internal_errors[:5])
        count = len(experiment.internal_errors)
        fail(f"shadow experiment failed internally {count} times: {shown}")
    meta: dict[str, object] = {"environment": environment, "seed": config.loop.seed}
    return tuple(control), tuple(candidate), meta


def _report(comparison: Comparison, threshold: float, output: Path | None) -> None:
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="Shadow mode: behavioural equivalence")
    for column in ("iterations", "matched", "mismatched", "ignored", "equivalence", "threshold"):
        table.add_column(column)
    table.add_row(
        str(comparison.total), str(comparison.matched), str(len(comparison.mismatches)),
        str(comparison.ignored), f"{comparison.equivalence:.2%}", f"{threshold:.2%}",
    )
    console.print(table)
    for mismatch in comparison.mismatches[:10]:
        console.print(f"iteration {mismatch.iteration}: differs in {', '.join(mismatch.fields)}")
    write_json(output, {"threshold": threshold, **comparison.as_dict()})
    if not comparison.passes(threshold):
        fail(f"equivalence {comparison.equivalence:.2%} is below the threshold {threshold:.2%}")
    console.print(f"equivalence {comparison.equivalence:.2%} >= {threshold:.2%}")


@shadow.command("generate-logs")
@handle_errors
def generate_logs(
    phase1_2: Annotated[Path, typer.Option("--phase1-2", help="Write the Phase 1-2 log here.")],
    phase3: Annotated[Path, typer.Option("--phase3", help="Write the Phase 3 log here.")],
    iterations: Iterations = 100,
    environment: EnvironmentOption = "local",
) -> None:
    """Run both paths on the same seeded iterations and write one log each."""
    from stratloop.shadow import write_log  # noqa: PLC0415

    control, candidate, meta = _run(environment, iterations)
    write_log(phase1_2, control, {**meta, "implementation": "procedural"})
    write_log(phase3, candidate, {**meta, "implementation": "strategy_pattern"})
    console.print(f"wrote {len(control)} records to {phase1_2} and {len(candidate)} to {phase3}")


@shadow.command("compare")
@handle_errors
def compare(
    old: Annotated[Path, typer.Option("--old", help="The Phase 1-2 (control) log.")],
    new: Annotated[Path, typer.Option("--new", help="The Phase 3 (candidate) log.")],
    threshold: Threshold = 0.95,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Share of iterations whose decision, method and candidate id match."""
    from stratloop.shadow import compare_records, read_log  # noqa: PLC0415

    _report(compare_records(read_log(old), read_log(new)), threshold, output)


@shadow.command("run")
@handle_errors
def run(
    output: Annotated[Path, typer.Option("--output", "-o", help="Write the Phase 3 log here.")],
    iterations: Iterations = 100,
    environment: EnvironmentOption = "local",
    threshold: Threshold = 0.95,
) -> None:
    """Run shadow mode, write the Phase 3 log, and compare it with the live Phase 1-2 path."""
    from stratloop.shadow import compare_records, write_log  # noqa: PLC0415

    control, candidate, meta = _run(environment, iterations)
    write_log(output, candidate, {**meta, "implementation": "strategy_pattern"})
    console.print(f"wrote {len(candidate)} records to {output}")
    _report(compare_records(control, candidate), threshold, None)
