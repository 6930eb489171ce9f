"""Signal fingerprints: a compact sample of a signal's ranks, to find near-duplicate candidates.

Two candidates can differ in every character and still trade almost the same
signal (``ts_mean(returns, 20)`` and ``ts_mean(returns, 21)``). A fingerprint
is the signal's cross-sectional percentile ranks on a fixed sample of train
dates and assets (ranked across all assets, then sampled), quantised to one
byte a cell: 1-255 for ranks in (0, 1], 0 for "no value". The correlation of
two fingerprints, with a missing cell counted at its fingerprint's mean, is the
pooled rank correlation of the two signals on that sample. Comparing one new
fingerprint with thousands stored is one matrix-vector product.

The sample never reaches past the train window: a fingerprint reads no test
or holdout data.

A :class:`Screen` carries one trading rule's stored fingerprints to the
worker, so a near-duplicate is recognised from its signal before its
backtests run: it then costs only the signal and its fingerprint.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from stratloop._types import FloatPanel
from stratloop.factors._crosssection import rank

__all__ = ["SCREEN_MARGIN", "FingerprintBank", "FingerprintSample", "Screen", "Similar"]

SAMPLE_DATES = 64
"""Train dates a fingerprint samples, evenly spaced."""

SAMPLE_ASSETS = 32
"""Assets a fingerprint samples, evenly spaced (all of them when there are fewer)."""

MIN_CELLS = 32
"""Cells with a value both fingerprints need before their correlation means anything."""

SCREEN_MARGIN = 1e-6
"""A screen rejects only above the threshold by this much, so float32 rounding of the
same product in another process never rejects what the driver would keep."""

_LEVELS = 254
_Codes = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class FingerprintSample:
    """The rows and columns a fingerprint samples from a signal panel.

    Args:
        rows: sampled row indices (train dates only).
        columns: sampled column indices (assets).
    """

    rows: npt.NDArray[np.intp]
    columns: npt.NDArray[np.intp]

    @classmethod
    def of(cls, n_assets: int, train_stop: int, *, warm_up: int) -> FingerprintSample:
        """The sample of a panel with ``n_assets`` whose train rows end before ``train_stop``.

        Args:
            n_assets: the panel's asset count.
            train_stop: the first row after the train window (the split).
            warm_up: rows skipped at the start, so that signals with long
                windows have values (at most half of the train window is skipped).
        """
        first = min(max(warm_up, 0), train_stop // 2)
        rows = np.unique(np.linspace(first, train_stop - 1, SAMPLE_DATES).round().astype(np.intp))
        columns = np.unique(
            np.linspace(0, n_assets - 1, min(n_assets, SAMPLE_ASSETS)).round().astype(np.intp)
        )
        return cls(rows, columns)

    @property
    def cells(self) -> int:
        """The fingerprint's length in bytes."""
        return len(self.rows) * len(self.columns)

    def take(self, signal: FloatPanel) -> str:
        """The fingerprint of ``signal`` as ASCII text (base64 of the byte codes)."""
        with np.errstate(invalid="ignore"):
            ranks = rank(np.ascontiguousarray(signal[self.rows]))[:, self.columns]
        codes = np.where(np.isfinite(ranks), 1 + np.rint(np.nan_to_num(ranks) * _LEVELS), 0)
        return base64.b64encode(codes.astype(np.uint8).tobytes()).decode("ascii")


@dataclass(frozen=True, slots=True)
class Similar:
    """The most correlated stored fingerprint: its owner and the correlation."""

    iteration: int
    correlation: float


def _unit_vector(text: str) -> npt.NDArray[np.float32] | None:
    """The centred, unit-length vector of a fingerprint; None when it has too few values."""
    codes: _Codes = np.frombuffer(base64.b64decode(text.encode("ascii")), dtype=np.uint8)
    present = codes > 0
    if int(present.sum()) < MIN_CELLS:
        return None
    values = np.where(present, codes.astype(np.float64), 0.0)
    values[present] -= values[present].mean()
    norm = float(np.linalg.norm(values))
    if norm == 0.0:
        return None
    return (values / norm).astype(np.float32)


@dataclass(slots=True)
class _Group:
    """The unit vectors of one trading rule's fingerprints, in a matrix grown by doubling."""

    matrix: npt.NDArray[np.float32]
    owners: list[int] = field(default_factory=list)

    def add(self, iteration: int, vector: npt.NDArray[np.float32]) -> None:
        count = len(self.owners)
        if count == len(self.matrix):
            grown = np.zeros((max(8, 2 * count), self.matrix.shape[1]), dtype=np.float32)
            grown[:count] = self.matrix
            self.matrix = grown
        self.matrix[count] = vector
        self.owners.append(iteration)

    def best(self, vector: npt.NDArray[np.float32]) -> Similar | None:
        if not self.owners:
            return None
        scores = self.matrix[: len(self.owners)] @ vector
        index = int(np.argmax(scores))
        return Similar(self.owners[index], float(scores[index]))


@dataclass(frozen=True, slots=True, eq=False)
class Screen:
    """A trading rule's stored fingerprints, as unit vectors, and the redundancy threshold.

    Args:
        threshold: ``search.max_signal_correlation``.
        vectors: one row per evaluated candidate of the rule (a copy: the bank grows on).
    """

    threshold: float
    vectors: npt.NDArray[np.float32]

    def rejects(self, fingerprint: str) -> bool:
        """True when ``fingerprint`` correlates above the threshold with a stored one.

        The bank a screen was taken from only grows, so what a screen rejects
        the bank finds redundant too (:data:`SCREEN_MARGIN` covers rounding).
        """
        vector = _unit_vector(fingerprint)
        if vector is None or self.vectors.shape[1] != len(vector):
            return False
        return float(np.max(self.vectors @ vector)) > self.threshold + SCREEN_MARGIN


class FingerprintBank:
    """The fingerprints of the candidates evaluated so far, grouped by trading rule.

    Only candidates traded by the same rule (portfolio and exits) are
    compared: the same signal held top-5 monthly and long-short daily are two
    different strategies.
    """

    def __init__(self) -> None:
        self._groups: dict[str, _Group] = {}

    def __len__(self) -> int:
        return sum(len(group.owners) for group in self._groups.values())

    def most_similar(self, rule: str, fingerprint: str) -> Similar | None:
        """The stored fingerprint of ``rule`` most correlated with ``fingerprint``, if any."""
        group = self._groups.get(rule)
        vector = _unit_vector(fingerprint)
        if group is None or vector is None or group.matrix.shape[1] != len(vector):
            return None
        return group.best(vector)

    def screen(self, rule: str, threshold: float) -> Screen | None:
        """The fingerprints stored for ``rule`` as a :class:`Screen`; None when there are none."""
        group = self._groups.get(rule)
        if group is None or not group.owners:
            return None
        return Screen(threshold, group.matrix[: len(group.owners)].copy())

    def add(self, iteration: int, rule: str, fingerprint: str) -> None:
        """Store the fingerprint of an evaluated candidate (one with too few values is skipped)."""
        vector = _unit_vector(fingerprint)
        if vector is None:
            return
        group = self._groups.get(rule)
        if group is None:
            group = self._groups[rule] = _Group(np.zeros((0, len(vector)), dtype=np.float32))
        if group.matrix.shape[1] == len(vector):
            group.add(iteration, vector)
