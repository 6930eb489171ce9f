"""Price data: the ``Panel`` type, packaged datasets, file loaders, synthetic panels, validation.

>>> panel = load_dataset("sp500-20")
>>> panel.shape
(8313, 20)
"""

from stratloop.data.embedded import DATASETS, dataset_licence, load_dataset
from stratloop.data.frame import Layout, panel_from_frame
from stratloop.data.history import require_history
from stratloop.data.loader import load_panel
from stratloop.data.panel import Panel
from stratloop.data.store import is_panel_store, open_panel_store, write_panel_store
from stratloop.data.synthetic import planted_panel, synthetic_panel

__all__ = [
    "DATASETS",
    "Layout",
    "Panel",
    "dataset_licence",
    "is_panel_store",
    "load_dataset",
    "load_panel",
    "open_panel_store",
    "panel_from_frame",
    "planted_panel",
    "require_history",
    "synthetic_panel",
    "write_panel_store",
]
