"""``stratloop data``: import a price file into a memory-mapped panel store, describe a source."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from stratloop.cli._app import app, command, console
from stratloop.data import Layout, load_panel, write_panel_store

__all__ = ["data_app"]

data_app = typer.Typer(help="Price data: import files into panel stores, describe sources.")
app.add_typer(data_app, name="data")

_SOURCE = typer.Argument(help="A packaged dataset name, a CSV / Parquet file or a panel store.")


@command(data_app, "import")
def import_(
    source: Annotated[str, _SOURCE],
    out: Annotated[Path, typer.Argument(help="The store directory to create (must not exist).")],
    layout: Annotated[Layout, typer.Option(help="wide, long or auto.")] = "auto",
    start_date: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    end_date: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
) -> None:
    """Validate SOURCE once and write it as a panel store every worker memory-maps.

    Point ``data.source`` at the store directory; for a large universe this
    replaces a parse and a private copy of the panel per worker with one
    shared, read-only mapping.
    """
    started = time.perf_counter()
    panel = load_panel(
        source,
        layout=layout,
        start_date=None if start_date is None else start_date.date(),
        end_date=None if end_date is None else end_date.date(),
    )
    write_panel_store(panel, out)
    console.print(
        f"wrote {out} from {_describe(source, panel.shape, panel.dates, sorted(panel.fields))} "
        f"in {time.perf_counter() - started:.1f} s",
        soft_wrap=True,
    )


@command(data_app, "info")
def info(source: Annotated[str, _SOURCE]) -> None:
    """Load SOURCE with the checks a run applies and describe it."""
    panel = load_panel(source)
    console.print(_describe(source, panel.shape, panel.dates, sorted(panel.fields)), soft_wrap=True)
    listed = np.isfinite(panel.close).sum(axis=1)
    console.print(
        f"assets with a price per date: min {int(listed.min())}, median "
        f"{int(np.median(listed))}, max {int(listed.max())}"
    )


def _describe(source: str, shape: tuple[int, int], dates: np.ndarray, fields: list[str]) -> str:
    return (
        f"{source}: {shape[0]:,} dates x {shape[1]:,} assets, {dates[0]} to {dates[-1]}, "
        f"fields {', '.join(fields)}"
    )
