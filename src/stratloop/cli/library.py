"""``stratloop library list|show|add|remove``: the persistent factor library.

The library is the directory ``library.path`` names (``--library`` overrides
it; ``add`` falls back on the library the run itself used). Each command reads
every entry it shows; a corrupt or edited one is an error naming its file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stratloop.cli._app import app, command, console, group
from stratloop.cli._runs import find_run, search_dirs
from stratloop.cli.run import ConfigOption, RunsDirOption
from stratloop.errors import SavedFactorError

if TYPE_CHECKING:
    from stratloop.factors.saved import FactorStore, SavedFactor

__all__ = ["library_app"]

library_app = group(
    "library", "The persistent factor library: champions kept across runs (library.path)."
)
app.add_typer(library_app)

LibraryOption = Annotated[
    Path | None,
    typer.Option("--library", help="The library's directory (overrides library.path)."),
]
FactorNameArgument = Annotated[
    str, typer.Argument(help="The factor's name (see `stratloop library list`).")
]


def _store(library: Path | None, config: Path | None, fallback: str | None = None) -> FactorStore:
    """The ``--library`` directory, else the configuration's ``library.path``, else ``fallback``."""
    from stratloop.config import load_config  # noqa: PLC0415 - pydantic; keep --help fast
    from stratloop.factors.saved import FactorStore  # noqa: PLC0415 - numpy; keep --help fast

    if library is not None:
        return FactorStore(library)
    configured = load_config(config).library.path or fallback
    if configured is None:
        raise SavedFactorError(
            "library.path",
            "is not set, so there is no library to use",
            "set library.path in the configuration or pass --library DIRECTORY",
        )
    return FactorStore(Path(configured))


def _score(entry: SavedFactor) -> str:
    score = entry.metrics.get("score")
    metric = entry.metrics.get("metric", "score")
    return f"{metric} {score:.4g}" if isinstance(score, int | float) else "-"


@command(library_app, "list")
def list_factors(library: LibraryOption = None, config: ConfigOption = None) -> None:
    """List the library's factors: name, validation score, origin and expression."""
    store = _store(library, config)
    entries = store.entries()
    if not entries:
        console.print(f"the factor library {store.directory} is empty", markup=False)
        return
    console.print(f"{len(entries)} factor(s) in {store.directory}", markup=False)
    for entry in entries:
        origin = f"run {entry.run_id}" if entry.run_id else "added by hand"
        console.print(
            f"{entry.name}  {_score(entry)}  {origin}  {entry.created}\n  {entry.expression}",
            markup=False,
            soft_wrap=True,
        )


@command(library_app, "show")
def show(
    name: FactorNameArgument,
    library: LibraryOption = None,
    config: ConfigOption = None,
) -> None:
    """Print one factor's entry: spec, trial key, run, metrics and creation time (JSON)."""
    entry = _store(library, config).get(name)
    console.print(json.dumps(entry.to_json(), indent=2, sort_keys=True), markup=False)


@command(library_app, "add")
def add(
    run_id: Annotated[str, typer.Argument(help="The run whose champion to save, or `latest`.")],
    name: Annotated[
        str | None,
        typer.Option("--name", help="The factor's name (default: from its trial key)."),
    ] = None,
    library: LibraryOption = None,
    config: ConfigOption = None,
    runs_dir: RunsDirOption = None,
) -> None:
    """Save a run's champion into the library (already there: says under which name)."""
    from stratloop.loop.library import champion_entry  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.loop.rundir import RunDir  # noqa: PLC0415 - keep --help fast

    directory, run_id = find_run(run_id, search_dirs(config, None, runs_dir))
    rundir = RunDir.open(directory, run_id)
    if not rundir.champion.exists():
        raise SavedFactorError(
            f"run {run_id}",
            "has no champion (no candidate met the selection rule yet)",
            "add the champion of a run that has one (stratloop show RUN_ID)",
        )
    stored = rundir.read_json(rundir.config).get("config", {}).get("library", {}).get("path")
    store = _store(library, config, stored)
    result = store.add(champion_entry(rundir.read_json(rundir.champion), run_id, name=name))
    verb = "saved" if result.added else "already in the library"
    console.print(
        f"{verb}: {result.entry.name} ({store.directory / (result.entry.name + '.json')})\n"
        f"  {result.entry.expression}",
        markup=False,
        soft_wrap=True,
    )


@command(library_app, "remove")
def remove(
    name: FactorNameArgument,
    library: LibraryOption = None,
    config: ConfigOption = None,
) -> None:
    """Delete a factor from the library (runs that used it keep their copy, library.json)."""
    store = _store(library, config)
    store.remove(name)
    console.print(f"removed {name} from {store.directory}", markup=False)
