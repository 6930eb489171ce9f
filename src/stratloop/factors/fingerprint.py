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

**Its text.** History lines keep each evaluated signal's fingerprint, so
that a resumed run compares with every one. When all assets are sampled (up to
32), a row's codes are the ranks ``1/k, ..., 1`` of its ``k`` values: all
that is not known in advance is their order, one number below ``k!`` (its
Lehmer code, 61 bits for 20 assets instead of 160). So the text is ``p1:``
and base64 of: which cells have a value, which rows are such plain ranks,
the codes of the other rows (ties, sampled assets), and each plain row's
order. About half the text of the codes themselves, and what compression
could not take out of them; decoding gives the codes back exactly.
Fingerprints written before are base64 of the codes (no ``p1:``), and
:func:`fingerprint_codes` reads both.

A :class:`Screen` carries one trading rule's stored fingerprints to the
worker, so a near-duplicate is recognised from its signal before its
backtests run: it then costs only the signal and its fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from stratloop._types import FloatPanel
from stratloop.errors import RunError
from stratloop.factors._crosssection import rank

__all__ = [
    "SCREEN_MARGIN",
    "FingerprintBank",
    "FingerprintSample",
    "Screen",
    "Similar",
    "encode_codes",
    "fingerprint_codes",
]

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
        return encode_codes(codes.astype(np.uint8))


_PREFIX = "p1:"
"""Marks the permutation coding; base64 (the coding before it) never holds a colon."""

_HEADER = struct.Struct(">HH")
"""Rows and columns of the codes."""

_SPLIT = 20
"""A row's Lehmer code is kept as ``high * 20! + low``: both parts fit int64 for 32 cells."""

_FACTORIALS = tuple(math.factorial(n) for n in range(SAMPLE_ASSETS + 1))
_WIDTHS = np.array([(max(f - 1, 1).bit_length() + 7) // 8 for f in _FACTORIALS])
"""Bytes that hold every Lehmer code of ``k`` cells (the numbers below ``k!``)."""


@lru_cache(maxsize=8)
def _plain_table(columns: int) -> _Codes:
    """Row ``k``: the sorted codes of ``k`` different values (no ties), then zeros."""
    counts = np.arange(columns + 1, dtype=np.float64)[:, None]
    places = np.arange(1, columns + 1, dtype=np.float64)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        codes = 1 + np.rint(places / counts * _LEVELS)
    return np.where(places <= counts, codes, 0).astype(np.uint8)


@lru_cache(maxsize=8)
def _weight_table(columns: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Per ``k`` and place ``j < k``: the int64 weight of ``j``'s Lehmer digit and its part.

    The digit's weight is ``(k - 1 - j)!``; when that is at least 20! the digit
    belongs to the high part with weight ``(k - 1 - j)! / 20!``, else to the low one.
    """
    weights = np.ones((columns + 1, columns), dtype=np.int64)
    high = np.zeros((columns + 1, columns), dtype=bool)
    for count in range(columns + 1):
        for place in range(count):
            exponent = count - 1 - place
            high[count, place] = exponent >= _SPLIT
            weights[count, place] = (
                _FACTORIALS[exponent] // _FACTORIALS[_SPLIT]
                if high[count, place]
                else _FACTORIALS[exponent]
            )
    return weights, high


def encode_codes(codes: _Codes) -> str:
    """The text of fingerprint codes (rows x columns, uint8; 0 is "no value").

    Per row: a bit per cell that has a value and a bit saying whether its
    codes are the plain ranks of its ``k`` values (no ties: the case of every
    row when all assets are sampled). A plain row is stored as the order of
    its cells (the stable sort's permutation) as its Lehmer code, in the
    fewest bytes that hold ``k! - 1``; any other row as its codes. Any codes
    of at most :data:`SAMPLE_ASSETS` columns encode and decode exactly.
    """
    rows, columns = codes.shape
    present = codes > 0
    counts = present.sum(axis=1)
    order = np.argsort(np.where(present, codes.astype(np.int16), 256), axis=1, kind="stable")
    ordered = np.take_along_axis(codes, order, axis=1)
    plain = np.all(ordered == _plain_table(columns)[counts], axis=1)
    places = np.arange(columns)
    held = places < counts[:, None]
    later = (places[None, :] > places[:, None])[None] & held[:, None, :]
    digits = ((order[:, None, :] < order[:, :, None]) & later).sum(axis=2)
    weights, high = _weight_table(columns)
    parts = np.where(held, digits, 0) * weights[counts]
    upper = np.where(high[counts], parts, 0).sum(axis=1)
    lower = np.where(high[counts], 0, parts).sum(axis=1)
    widths = _WIDTHS[counts]
    if counts[plain].max(initial=0) <= _SPLIT:  # every order fits 8 bytes (decoded alike)
        big_endian = lower.astype(">u8").view(np.uint8).reshape(rows, 8)
        kept = big_endian[plain][np.arange(8) >= 8 - widths[plain][:, None]]
        lehmer = kept.tobytes()
    else:
        lehmer = b"".join(
            (int(u) * _FACTORIALS[_SPLIT] + int(v)).to_bytes(int(w), "big")
            for u, v, w in zip(upper[plain], lower[plain], widths[plain], strict=True)
        )
    payload = b"".join(
        (
            _HEADER.pack(rows, columns),
            np.packbits(present).tobytes(),
            np.packbits(plain).tobytes(),
            codes[present & ~plain[:, None]].tobytes(),
            lehmer,
        )
    )
    return _PREFIX + base64.b64encode(payload).decode("ascii")


@lru_cache(maxsize=256)
def _codes_of(text: str) -> _Codes:
    """Decoded codes, cached: the driver decodes a new fingerprint to compare, then to keep it."""
    if not text.startswith(_PREFIX):
        return np.frombuffer(base64.b64decode(text.encode("ascii"), validate=True), np.uint8)
    return _decode(base64.b64decode(text[len(_PREFIX) :].encode("ascii"), validate=True))


def fingerprint_codes(text: str) -> _Codes:
    """The codes of a fingerprint's text (one row after another), either coding; read-only.

    Raises:
        RunError: the text is no fingerprint (a history line edited or damaged).
    """
    try:
        return _codes_of(text)
    except (ValueError, binascii.Error, struct.error) as exc:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise RunError(
            f"fingerprint {shown!r} cannot be decoded ({exc}); the history line holding it "
            "was edited or damaged: check the run with `stratloop repair`"
        ) from exc


def _decode(payload: bytes) -> _Codes:
    """The codes :func:`encode_codes` wrote into ``payload``."""
    rows, columns = _HEADER.unpack_from(payload)
    if columns > SAMPLE_ASSETS:
        raise ValueError(f"{columns} columns, more than a fingerprint has ({SAMPLE_ASSETS})")
    reader = _Reader(payload, _HEADER.size)
    present = reader.bits(rows * columns).reshape(rows, columns)
    plain = reader.bits(rows)
    codes = np.zeros((rows, columns), dtype=np.uint8)
    codes[present & ~plain[:, None]] = reader.take(int(present[~plain].sum()))
    counts = present[plain].sum(axis=1)
    widths = _WIDTHS[counts]
    lehmer = reader.take(int(widths.sum()))
    if reader.offset != len(payload):
        raise ValueError(f"{len(payload) - reader.offset} byte(s) follow the last row")
    if counts.max(initial=0) <= _SPLIT:
        big_endian = np.zeros((len(counts), 8), dtype=np.uint8)
        big_endian[np.arange(8) >= 8 - widths[:, None]] = lehmer
        lower = big_endian.view(">u8").reshape(-1).astype(np.int64)
        upper = np.zeros_like(lower)
    else:
        ends = np.cumsum(widths).tolist()
        split = [
            divmod(int.from_bytes(lehmer[a:b].tobytes(), "big"), _FACTORIALS[_SPLIT])
            for a, b in zip([0, *ends[:-1]], ends, strict=True)
        ]
        upper = np.array([u for u, _ in split] or [0], dtype=np.int64)[: len(split)]
        lower = np.array([v for _, v in split] or [0], dtype=np.int64)[: len(split)]
    codes[plain] = _permuted(present[plain], counts, upper, lower)
    codes.flags.writeable = False
    return codes.reshape(-1)


def _permuted(
    present: npt.NDArray[np.bool_],
    counts: npt.NDArray[np.intp],
    upper: npt.NDArray[np.int64],
    lower: npt.NDArray[np.int64],
) -> _Codes:
    """Plain rows from their Lehmer codes ``upper * 20! + lower``: the ranks put back in place."""
    rows, columns = present.shape
    places = np.arange(columns)
    held = places < counts[:, None]
    weights, high = _weight_table(columns)
    number = np.where(high[counts], upper[:, None], lower[:, None])
    radix = np.maximum(counts[:, None] - places, 1)
    digits = np.where(held, (number // weights[counts]) % radix, 0)
    limit = np.array([_FACTORIALS[c] // _FACTORIALS[_SPLIT] if c > _SPLIT else 1 for c in counts])
    low_limit = np.array([min(_FACTORIALS[c], _FACTORIALS[_SPLIT]) for c in counts])
    if np.any(upper >= limit) or np.any(lower >= low_limit) or np.any(upper < 0):
        raise ValueError("a row's order is not a number below k! for its k values")
    order = np.zeros((rows, columns), dtype=np.intp)
    for place in range(columns - 1, -1, -1):
        tail = order[:, place + 1 :]
        tail += tail >= digits[:, place : place + 1]
        order[:, place] = digits[:, place]
    cells_held = np.argsort(~present, axis=1, kind="stable")
    target = np.take_along_axis(cells_held, order, axis=1)
    out = np.zeros((rows, columns), dtype=np.uint8)
    out[np.nonzero(held)[0], target[held]] = _plain_table(columns)[counts][held]
    return out


class _Reader:
    """Consecutive fields of a payload; running past its end is a ``ValueError``."""

    def __init__(self, payload: bytes, offset: int) -> None:
        self._payload = payload
        self.offset = offset

    def take(self, count: int) -> _Codes:
        """The next ``count`` bytes."""
        if self.offset + count > len(self._payload):
            raise ValueError("the payload ends before its last row")
        out = np.frombuffer(self._payload, np.uint8, count, self.offset)
        self.offset += count
        return out

    def bits(self, count: int) -> npt.NDArray[np.bool_]:
        """The next ``count`` bits (whole bytes are read)."""
        return np.unpackbits(self.take((count + 7) // 8))[:count].astype(bool)


@dataclass(frozen=True, slots=True)
class Similar:
    """The most correlated stored fingerprint: its owner and the correlation."""

    iteration: int
    correlation: float


def _unit_vector(text: str) -> npt.NDArray[np.float32] | None:
    """The centred, unit-length vector of a fingerprint; None when it has too few values."""
    codes = fingerprint_codes(text)
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
        vectors: one row per evaluated candidate of the rule: a read-only view of the
            bank's rows, which are never written again (the bank appends, or grows into a
            new matrix), so no copy is needed.
        rule: the trading rule's key; its rows only ever grow at the end, so a
            receiver that holds an earlier screen of the rule needs only the new rows.
    """

    threshold: float
    vectors: npt.NDArray[np.float32]
    rule: str = ""

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
        rows = group.matrix[: len(group.owners)]
        rows.flags.writeable = False
        return Screen(threshold, rows, rule)

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
