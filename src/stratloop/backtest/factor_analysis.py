"""Factor analysis of a signal panel: IC, RankIC, quantile returns, turnover, IC decay.

The figures a factor researcher asks for first (alphalens, Qlib's
``SigAnaRecord``). ``signal`` is dates x assets (NaN = no value), row t using
data up to t; ``close`` is the panel's close prices (NaN = no price).

- Forward return over horizon h: ``f[t] = close[t + h] / close[t] - 1``, NaN
  when either price is missing and on the last h rows. The signal at t is
  compared with what happens *after* t, so IC on day t reads ``signal[t]``,
  ``close[t]`` and ``close[t + h]`` only.
- On each day the *pairs* are the assets with a finite signal and a finite
  forward return. A day is measured when it has at least ``MIN_ASSETS`` pairs
  and neither side is constant among them; other days are NaN.
- IC: Pearson correlation of signal and forward return over the pairs.
  RankIC: the same of their average ranks (Spearman).
- Summary of a daily series ``c`` over its measured days (``k`` of them):
  ``mean``, ``std`` (ddof=1), ``icir = mean / std``, ``t_stat = icir * sqrt(k)``
  and the share of days with ``c > 0``. With h > 1 consecutive forward returns
  overlap, the daily ICs are autocorrelated and this t-stat overstates the
  evidence; ``step=h`` (below) measures independent days.
- Quantiles: among a day's ``m`` pairs (days with ``m >= n_quantiles``), the
  asset of average signal rank ``r`` is in quantile ``floor((r - 1) q / m)``
  (0 = lowest signal). A quantile's mean return is the mean over days of its
  assets' mean forward return (days where it is empty are skipped); the
  long-short spread is the mean over days of top minus bottom.
- Rank autocorrelation at lag L: on day t >= L, the Spearman correlation of
  ``signal[t]`` with ``signal[t - L]`` over assets finite on both days.
- Turnover at lag L: the share of the top quantile on day t (quantiles of the
  signal alone) that was not in the top quantile on day t - L.
- IC decay: mean IC and mean RankIC for each horizon in ``decay_horizons``.
- Measured days: every day by default (``step=1``, as alphalens does); with
  ``step=h`` only rows ``0, h, 2h, ...`` (the rebalance days of a segment
  starting at row 0), which makes the horizon-h forward returns of measured
  days non-overlapping (an honest t-stat) and costs ``1/h`` of the work.
  Every figure above is then the same definition restricted to those days.

Degenerate cases: a summary of no measured day is all 0.0 (``n_days`` 0); a
mean over no day is 0.0. :meth:`FactorAnalysis.as_dict` holds no NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stratloop._types import BoolPanel, FloatPanel
from stratloop.backtest._plain import PlainRecord
from stratloop.errors import BacktestError
from stratloop.factors._crosssection import rank as _percentile_rank

__all__ = [
    "DEFAULT_DECAY_HORIZONS",
    "MIN_ASSETS",
    "DailyFactor",
    "FactorAnalysis",
    "ICSummary",
    "analyze_factor",
    "daily_factor",
    "daily_ic",
    "daily_rank_ic",
    "factor_turnover",
    "forward_returns",
    "quantile_returns",
    "rank_autocorrelation",
    "summarize_ic",
]

MIN_ASSETS = 3
"""Fewest pairs on a day for its correlation to count (two points always correlate +-1)."""

DEFAULT_DECAY_HORIZONS: tuple[int, ...] = tuple(range(1, 21))
"""Horizons of the IC decay, in trading days."""

_CONSTANT = 1e-24
"""A centred sum of squares below this share of the raw one is rounding: a constant side."""

Series = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ICSummary(PlainRecord[float | int]):
    """Summary of a daily IC series over its measured days (see the module docstring)."""

    mean: float
    std: float
    icir: float
    t_stat: float
    positive_share: float
    n_days: int


@dataclass(frozen=True, slots=True, eq=False)
class FactorAnalysis:
    """A signal's factor analysis at one horizon, with the daily series for charts.

    Args:
        horizon: the forward-return horizon in trading days.
        rows: the panel rows measured (the days of the daily series).
        ic: daily Pearson IC (NaN on days not measured).
        rank_ic: daily RankIC.
        ic_summary: summary of ``ic``.
        rank_ic_summary: summary of ``rank_ic``.
        quantile_returns: mean forward return per quantile, lowest signal first.
        long_short: mean top-minus-bottom forward return.
        rank_autocorrelation: mean rank autocorrelation at lag ``horizon``.
        turnover: mean top-quantile turnover at lag ``horizon``.
        decay_horizons: the horizons of the decay.
        ic_decay: mean IC per decay horizon.
        rank_ic_decay: mean RankIC per decay horizon.
    """

    horizon: int
    rows: npt.NDArray[np.intp]
    ic: Series
    rank_ic: Series
    ic_summary: ICSummary
    rank_ic_summary: ICSummary
    quantile_returns: Series
    long_short: float
    rank_autocorrelation: float
    turnover: float
    decay_horizons: tuple[int, ...]
    ic_decay: Series
    rank_ic_decay: Series

    def as_dict(self) -> dict[str, object]:
        """JSON-safe summary figures (the daily series are left out; NaN never appears)."""
        return {
            "horizon": self.horizon,
            "n_rows": len(self.rows),
            "ic": self.ic_summary.as_dict(),
            "rank_ic": self.rank_ic_summary.as_dict(),
            "quantile_returns": [float(x) for x in self.quantile_returns],
            "long_short": self.long_short,
            "rank_autocorrelation": self.rank_autocorrelation,
            "turnover": self.turnover,
            "decay_horizons": list(self.decay_horizons),
            "ic_decay": [float(x) for x in self.ic_decay],
            "rank_ic_decay": [float(x) for x in self.rank_ic_decay],
        }


def analyze_factor(
    signal: FloatPanel,
    close: FloatPanel,
    *,
    horizon: int,
    n_quantiles: int = 5,
    decay_horizons: Sequence[int] = DEFAULT_DECAY_HORIZONS,
    step: int = 1,
) -> FactorAnalysis:
    """The full factor analysis of ``signal`` against ``close`` (definitions in the module).

    Args:
        signal: dates x assets signal, row t using data up to t.
        close: dates x assets close prices, same shape.
        horizon: forward-return horizon (the strategy's rebalance period).
        n_quantiles: number of quantiles (quintiles by default).
        decay_horizons: horizons of the IC decay.
        step: measure every ``step``-th row from row 0 (1 = every day).

    Raises:
        BacktestError: shapes differ, or a horizon, step or quantile count is out of range.
    """
    _check(signal, close, horizon, n_quantiles, (*decay_horizons, step))
    rows = np.arange(0, len(signal), step)
    measured = signal[rows]
    forward = _forward_at(close, rows, horizon)
    ic = daily_ic(measured, forward)
    rank_ic = daily_rank_ic(measured, forward)
    by_quantile, spread = quantile_returns(measured, forward, n_quantiles)
    ic_decay, rank_ic_decay = _decay(measured, close, rows, decay_horizons)
    return FactorAnalysis(
        horizon=horizon,
        rows=rows,
        ic=ic,
        rank_ic=rank_ic,
        ic_summary=summarize_ic(ic),
        rank_ic_summary=summarize_ic(rank_ic),
        quantile_returns=by_quantile,
        long_short=_mean(spread),
        rank_autocorrelation=_mean(_autocorrelation_at(signal, rows, horizon)),
        turnover=_mean(_turnover_at(signal, rows, horizon, n_quantiles)),
        decay_horizons=tuple(decay_horizons),
        ic_decay=ic_decay,
        rank_ic_decay=rank_ic_decay,
    )


def forward_returns(close: FloatPanel, horizon: int) -> FloatPanel:
    """``close[t + horizon] / close[t] - 1``; NaN on the last ``horizon`` rows or with no price."""
    return _forward_at(close, np.arange(len(close)), horizon)


def daily_ic(signal: FloatPanel, forward: FloatPanel) -> Series:
    """Per day, Pearson correlation of signal and forward return over the pairs."""
    return _row_correlation(signal, forward)


def daily_rank_ic(signal: FloatPanel, forward: FloatPanel) -> Series:
    """Per day, Spearman correlation (Pearson of average ranks) over the pairs."""
    return _rank_ic(signal, forward, _ranks_where(signal, np.isfinite(signal)))


def summarize_ic(ic: Series) -> ICSummary:
    """Mean, std, ICIR, t-stat and share positive over the measured (finite) days."""
    measured = ic[np.isfinite(ic)]
    n_days = len(measured)
    if n_days == 0:
        return ICSummary(0.0, 0.0, 0.0, 0.0, 0.0, 0)
    mean = float(measured.mean())
    std = float(np.std(measured, ddof=1)) if n_days > 1 else 0.0
    icir = mean / std if std > 0.0 else 0.0
    return ICSummary(
        mean=mean,
        std=std,
        icir=icir,
        t_stat=icir * math.sqrt(n_days),
        positive_share=float(np.mean(measured > 0.0)),
        n_days=n_days,
    )


def quantile_returns(
    signal: FloatPanel, forward: FloatPanel, n_quantiles: int
) -> tuple[Series, Series]:
    """Mean forward return per signal quantile, and the daily top-minus-bottom spread.

    Returns:
        ``(means, spread)``: ``means`` has one value per quantile (0.0 if never
        filled); ``spread`` one per day, NaN where top or bottom is empty.
    """
    pairs = np.isfinite(signal) & np.isfinite(forward)
    daily = _bucket_means(_quantile_buckets(signal, pairs, n_quantiles), forward, n_quantiles)
    means = np.array([_mean(daily[:, q]) for q in range(n_quantiles)])
    return means, daily[:, -1] - daily[:, 0]


@dataclass(frozen=True, slots=True, eq=False)
class DailyFactor:
    """Per measured row: the figures :func:`daily_factor` computes (NaN where not measured)."""

    ic: Series
    rank_ic: Series
    spread: Series
    turnover: Series
    autocorrelation: Series


def daily_factor(signal: FloatPanel, forward: FloatPanel, n_quantiles: int) -> DailyFactor:
    """Daily IC, RankIC, quantile spread, and turnover and rank autocorrelation at lag one row.

    The same definitions as :func:`daily_ic`, :func:`daily_rank_ic`,
    :func:`quantile_returns` (its spread), :func:`factor_turnover` and
    :func:`rank_autocorrelation` with ``lag=1``, computed together so that the
    signal is ranked once: the rows whose pairs (or, for the autocorrelation,
    whose cells finite on both rows) are not all its finite cells are ranked
    again. Measured on rebalance days ``h`` apart, lag one row is lag ``h``.
    """
    present = np.isfinite(signal)
    ranks = _ranks_where(signal, present)
    pairs = present & np.isfinite(forward)
    pair_ranks = _reranked(signal, ranks, present, pairs)
    daily = _bucket_means(_buckets_from(pair_ranks, pairs, n_quantiles), forward, n_quantiles)
    top = _buckets_from(ranks, present, n_quantiles) == n_quantiles - 1
    counts = present.sum(axis=1)
    turnover = np.full(len(signal), np.nan)
    size = top[1:].sum(axis=1)
    new = (top[1:] & ~top[:-1]).sum(axis=1)
    valid = (counts[1:] >= n_quantiles) & (counts[:-1] >= n_quantiles) & (size > 0)
    turnover[1:][valid] = new[valid] / size[valid]
    autocorrelation = np.full(len(signal), np.nan)
    if len(signal) > 1:
        both = present[1:] & present[:-1]
        now = _reranked(signal[1:], ranks[1:], present[1:], both)
        before = _reranked(signal[:-1], ranks[:-1], present[:-1], both)
        autocorrelation[1:] = _row_correlation(now, before)
    return DailyFactor(
        ic=daily_ic(signal, forward),
        rank_ic=_row_correlation(pair_ranks, _ranks_where(forward, pairs)),
        spread=daily[:, -1] - daily[:, 0],
        turnover=turnover,
        autocorrelation=autocorrelation,
    )


def _reranked(
    values: FloatPanel, ranks: FloatPanel, present: BoolPanel, keep: BoolPanel
) -> FloatPanel:
    """``ranks`` (among the ``present`` cells) with the rows where ``keep`` differs ranked again."""
    differ = (keep != present).any(axis=1)
    if not differ.any():
        return ranks
    out = ranks.copy()
    out[differ] = _ranks_where(values[differ], keep[differ])
    return out


def _bucket_means(
    buckets: npt.NDArray[np.intp], forward: FloatPanel, n_quantiles: int
) -> FloatPanel:
    """Per row and quantile, the mean forward return of its assets (NaN where empty)."""
    filled = buckets >= 0
    n_rows = len(buckets)
    flat = (np.arange(n_rows)[:, None] * n_quantiles + buckets)[filled]
    size = n_rows * n_quantiles
    sums = np.bincount(flat, forward[filled], size).reshape(n_rows, n_quantiles)
    counts = np.bincount(flat, minlength=size).reshape(n_rows, n_quantiles)
    with np.errstate(invalid="ignore", divide="ignore"):
        daily: FloatPanel = sums / counts
    return daily


def rank_autocorrelation(signal: FloatPanel, lag: int) -> Series:
    """Per day t, Spearman correlation of ``signal[t]`` and ``signal[t - lag]`` (NaN if t < lag)."""
    return _autocorrelation_at(signal, np.arange(len(signal)), lag)


def factor_turnover(signal: FloatPanel, lag: int, n_quantiles: int) -> Series:
    """Per day t, share of the top quantile that was not in it on day ``t - lag``.

    NaN for t < lag and where either day has fewer than ``n_quantiles`` values.
    """
    return _turnover_at(signal, np.arange(len(signal)), lag, n_quantiles)


def _forward_at(close: FloatPanel, rows: npt.NDArray[np.intp], horizon: int) -> FloatPanel:
    """Forward returns of the given rows (NaN where ``row + horizon`` is past the end)."""
    out = np.full((len(rows), close.shape[1]), np.nan)
    inside = rows + horizon < len(close)
    start = rows[inside]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[inside] = close[start + horizon] / close[start] - 1.0
    return out


def _autocorrelation_at(signal: FloatPanel, rows: npt.NDArray[np.intp], lag: int) -> Series:
    """Rank autocorrelation at ``lag`` of the given rows (NaN for rows before ``lag``)."""
    out = np.full(len(rows), np.nan)
    later = rows >= lag
    now, before = signal[rows[later]], signal[rows[later] - lag]
    both = np.isfinite(now) & np.isfinite(before)
    out[later] = _row_correlation(_ranks_where(now, both), _ranks_where(before, both))
    return out


def _turnover_at(
    signal: FloatPanel, rows: npt.NDArray[np.intp], lag: int, n_quantiles: int
) -> Series:
    """Top-quantile turnover at ``lag`` of the given rows (NaN where undefined)."""
    out = np.full(len(rows), np.nan)
    later = rows >= lag
    now_signal, before_signal = signal[rows[later]], signal[rows[later] - lag]
    now = _quantile_buckets(now_signal, np.isfinite(now_signal), n_quantiles)
    before = _quantile_buckets(before_signal, np.isfinite(before_signal), n_quantiles)
    top_now, top_before = now == n_quantiles - 1, before == n_quantiles - 1
    size = top_now.sum(axis=1)
    new = (top_now & ~top_before).sum(axis=1)
    valid = ((now >= 0).sum(axis=1) > 0) & ((before >= 0).sum(axis=1) > 0) & (size > 0)
    out[np.flatnonzero(later)[valid]] = new[valid] / size[valid]
    return out


def _decay(
    measured: FloatPanel,
    close: FloatPanel,
    rows: npt.NDArray[np.intp],
    horizons: Sequence[int],
) -> tuple[Series, Series]:
    """Mean IC and mean RankIC of the measured rows at each horizon."""
    ic = np.zeros(len(horizons))
    rank_ic = np.zeros(len(horizons))
    signal_ranks = _ranks_where(measured, np.isfinite(measured))
    for i, horizon in enumerate(horizons):
        forward = _forward_at(close, rows, horizon)
        ic[i] = _mean(daily_ic(measured, forward))
        rank_ic[i] = _mean(_rank_ic(measured, forward, signal_ranks))
    return ic, rank_ic


def _rank_ic(signal: FloatPanel, forward: FloatPanel, signal_ranks: FloatPanel) -> Series:
    """Daily RankIC, given the signal's ranks among all its finite cells.

    Those ranks serve every row whose pairs are all its finite cells (the usual
    case, so each horizon of the decay ranks only its forward returns); the
    other rows are ranked again among their pairs.
    """
    present = np.isfinite(signal)
    pairs = present & np.isfinite(forward)
    differ = (pairs != present).any(axis=1)
    ranks = signal_ranks
    if differ.any():
        ranks = signal_ranks.copy()
        ranks[differ] = _ranks_where(signal[differ], pairs[differ])
    return _row_correlation(ranks, _ranks_where(forward, pairs))


def _ranks_where(values: FloatPanel, keep: BoolPanel) -> FloatPanel:
    """Average-rank percentiles of each row among the ``keep`` cells (NaN elsewhere)."""
    return _percentile_rank(np.where(keep, values, np.nan))


def _quantile_buckets(
    signal: FloatPanel, keep: BoolPanel, n_quantiles: int
) -> npt.NDArray[np.intp]:
    """Per cell, ``floor((r - 1) q / m)`` of its average rank r among m kept; -1 if not ranked.

    Rows with fewer than ``n_quantiles`` kept cells are not ranked.
    """
    return _buckets_from(_ranks_where(signal, keep), keep, n_quantiles)


def _buckets_from(
    percentile: FloatPanel, keep: BoolPanel, n_quantiles: int
) -> npt.NDArray[np.intp]:
    """:func:`_quantile_buckets` given the percentile ranks among the ``keep`` cells."""
    counts = keep.sum(axis=1, keepdims=True).astype(np.float64)
    average_rank = np.round(percentile * counts * 2.0) / 2.0
    with np.errstate(invalid="ignore"):
        bucket = np.floor((average_rank - 1.0) * n_quantiles / counts)
    ranked = keep & (counts >= n_quantiles)
    return np.where(ranked, bucket, -1.0).astype(np.intp)


def _row_correlation(x: FloatPanel, y: FloatPanel) -> Series:
    """Per row, Pearson correlation over the cells finite in both; NaN if not measured."""
    pairs = np.isfinite(x) & np.isfinite(y)
    count = pairs.sum(axis=1)
    dx = np.where(pairs, x, 0.0)
    dy = np.where(pairs, y, 0.0)
    raw_xx = np.einsum("ij,ij->i", dx, dx)
    raw_yy = np.einsum("ij,ij->i", dy, dy)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx -= (dx.sum(axis=1) / count)[:, None]
        dy -= (dy.sum(axis=1) / count)[:, None]
        dx *= pairs
        dy *= pairs
        sxx = np.einsum("ij,ij->i", dx, dx)
        syy = np.einsum("ij,ij->i", dy, dy)
        corr = np.einsum("ij,ij->i", dx, dy) / np.sqrt(sxx * syy)
    varies = (sxx > _CONSTANT * raw_xx) & (syy > _CONSTANT * raw_yy)
    measured = (count >= MIN_ASSETS) & varies
    return np.where(measured, np.clip(corr, -1.0, 1.0), np.nan)


def _mean(values: Series) -> float:
    """Mean over the finite values; 0.0 if there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else 0.0


def _check(
    signal: FloatPanel,
    close: FloatPanel,
    horizon: int,
    n_quantiles: int,
    positive: Sequence[int],
) -> None:
    if signal.shape != close.shape or signal.ndim != 2:
        raise BacktestError(
            f"signal and close must be 2-d of the same shape, got {signal.shape} and {close.shape}"
        )
    for value in (horizon, *positive):
        if not 1 <= value < len(close):
            raise BacktestError(
                f"horizon or step {value} must be between 1 and {len(close) - 1} (the panel "
                f"has {len(close)} dates)"
            )
    if n_quantiles < 2:
        raise BacktestError(f"n_quantiles must be >= 2, got {n_quantiles}")
