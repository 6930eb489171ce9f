"""Shared type aliases."""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

FloatPanel: TypeAlias = npt.NDArray[np.float64]
"""A dates x assets array of float64, row-major; NaN means "no value"."""

BoolPanel: TypeAlias = npt.NDArray[np.bool_]
"""A dates x assets boolean mask."""

GenerationMethod: TypeAlias = Literal["llm", "factor_graph"]
"""The two ways an iteration can produce a candidate."""
