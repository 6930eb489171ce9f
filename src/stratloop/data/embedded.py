"""The datasets shipped inside the package, with their licences.

``sp500-20``: daily adjusted close prices of 20 large US stocks, 1990-01-02 to
2022-12-28 (8,313 trading days), from the skfolio project (BSD 3-Clause,
see ``datasets/LICENSE-skfolio-BSD-3``). Close prices only.
"""

from __future__ import annotations

import functools
from importlib import resources
from types import MappingProxyType

from stratloop.data.frame import panel_from_frame
from stratloop.data.panel import Panel
from stratloop.errors import DataError

__all__ = ["DATASETS", "dataset_licence", "load_dataset"]

DATASETS = MappingProxyType(
    {
        "sp500-20": ("sp500_dataset.csv.gz", "LICENSE-skfolio-BSD-3"),
    }
)
"""Dataset name -> (data file, licence file) inside ``stratloop/data/datasets``."""


@functools.lru_cache(maxsize=4)
def load_dataset(name: str = "sp500-20") -> Panel:
    """Load a packaged dataset as a validated panel (cached: panels are read-only).

    Args:
        name: one of :data:`DATASETS`.

    Raises:
        DataError: the name is unknown; the message lists the known names.
    """
    data_file, _ = _entry(name)
    import pandas as pd  # noqa: PLC0415 - pandas is loaded only to read files

    with resources.as_file(resources.files("stratloop.data") / "datasets" / data_file) as path:
        frame = pd.read_csv(path)
    panel = panel_from_frame(frame, layout="wide", source=f"dataset {name!r}")
    return Panel(dates=panel.dates, assets=panel.assets, fields=dict(panel.fields), name=name)


def dataset_licence(name: str = "sp500-20") -> str:
    """The licence text shipped with a packaged dataset.

    Args:
        name: one of :data:`DATASETS`.
    """
    _, licence_file = _entry(name)
    return (resources.files("stratloop.data") / "datasets" / licence_file).read_text("utf-8")


def _entry(name: str) -> tuple[str, str]:
    if name not in DATASETS:
        known = ", ".join(sorted(DATASETS))
        raise DataError(f"unknown dataset {name!r}; known datasets: {known}")
    return DATASETS[name]
