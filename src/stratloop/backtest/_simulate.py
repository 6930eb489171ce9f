"""The vectorised backtest kernel.

The dates between two rebalances form a *period*. All periods are simulated at
once on a (periods x steps x held assets) block gathered from the price panel:
step 0 is the rebalance day, step ``s`` the ``s``-th trading day after it. Only
the assets a period holds are gathered, so the work is proportional to the
positions, not to the universe. Position values drift with the cumulative
price relative since the rebalance; a position that is closed (exit, or a
missing price) is frozen at its closing value, which then sits in cash.

Each period's equity is normalised to 1 after its rebalance trade, so periods
are independent; the daily returns chain them. Inputs are validated by the
caller: this module assumes float64 arrays of matching shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stratloop._types import FloatPanel
from stratloop.backtest.portfolio import target_weights
from stratloop.errors import BacktestError
from stratloop.factors._rows import COMPILED_SIZE, compiled_input
from stratloop.spec import Exits, PortfolioRule

__all__ = ["Book", "Simulation", "simulate"]

IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class Book:
    """What each period held, enough to rebuild the daily weights on demand.

    Args:
        rebalance_rows: panel row of each period's rebalance.
        columns: periods x slots asset column of each held position.
        values: periods x steps x slots position values (period equity starts at 1).
        close_step: periods x slots step at whose close the position was closed
            (beyond the period if it was held to the next rebalance).
        held: periods x slots, true for real positions (false for padding).
        equity: periods x steps equity after the day's trades.
        start: first row of the backtest.
        stop: one past its last row.
        ruin: index (from ``start``) of the day the equity was wiped out, if any.
    """

    rebalance_rows: IntArray
    columns: IntArray
    values: FloatPanel
    close_step: IntArray
    held: BoolArray
    equity: FloatPanel
    start: int
    stop: int
    ruin: int | None

    def weights(self, n_assets: int) -> FloatPanel:
        """End-of-day weights, (stop - start) x n_assets, after each day's trades."""
        n_days = self.stop - self.start
        n_steps = self.values.shape[1] - 1
        steps = np.arange(n_steps)
        rows = (self.rebalance_rows[:, None] - self.start) + steps
        keep = (
            self.held[:, None, :]
            & (steps[None, :, None] < self.close_step[:, None, :])
            & (rows < n_days)[:, :, None]
        )
        values = self.values[:, :n_steps, :] / self.equity[:, :n_steps, None]
        out = np.zeros((n_days, n_assets))
        row_index = np.broadcast_to(rows[:, :, None], keep.shape)[keep]
        col_index = np.broadcast_to(self.columns[:, None, :], keep.shape)[keep]
        out[row_index, col_index] = values[keep]
        if self.ruin is not None:
            out[self.ruin :] = 0.0
        return out


@dataclass(frozen=True, slots=True, eq=False)
class Simulation:
    """Daily series of one simulated segment (index 0 is row ``start``)."""

    returns: npt.NDArray[np.float64]
    turnover: npt.NDArray[np.float64]
    invested: BoolArray
    trades: IntArray
    n_trades: int
    book: Book


def simulate(
    close: FloatPanel,
    signal: FloatPanel,
    rule: PortfolioRule,
    exits: Exits,
    *,
    cost: float,
    start: int,
    stop: int,
    names: tuple[tuple[str, ...], npt.NDArray[np.datetime64]],
) -> Simulation:
    """Simulate rows ``start:stop``; ``cost`` is a fraction of traded value.

    Args:
        close: dates x assets close prices.
        signal: dates x assets signal (row t uses data up to t).
        rule: the portfolio rule (its ``rebalance_days`` sets the periods).
        exits: stop loss and maximum holding period.
        cost: cost per unit of traded weight (bps / 10,000).
        start: first row (the first rebalance).
        stop: one past the last row.
        names: (assets, dates), only for error messages.
    """
    period = rule.rebalance_days
    rebalance = np.arange(start, stop, period)
    n_periods, n_steps, n_days = len(rebalance), period + 1, stop - start
    with np.errstate(invalid="ignore"):
        eligible = np.isfinite(signal[rebalance]) & np.isfinite(close[rebalance])
    targets = target_weights(rule, signal[rebalance], eligible)
    columns, w0, held = _sparse(targets)
    steps = np.arange(n_steps)
    days = np.minimum(rebalance[:, None] + steps, stop - 1)
    last = np.minimum(stop - 1 - rebalance, period - 1)
    prices = _gather(close, days, columns)
    _check_positive(prices, held, days, columns, names)
    prices[:, 0, :][~held] = 1.0

    values, close_step, closed = _positions(prices, w0, held, exits, last)
    flat = (np.arange(n_periods)[:, None] * n_steps + close_step)[closed]
    size = n_periods * n_steps
    traded = np.bincount(flat, np.abs(values[:, -1, :][closed]), size).reshape(n_periods, -1)
    n_closed = np.bincount(flat, minlength=size).reshape(n_periods, n_steps)
    cumulative = np.cumsum(traded, axis=1)
    gross = (1.0 - w0.sum(axis=1))[:, None] + values.sum(axis=2)
    equity = gross - cost * cumulative
    with np.errstate(divide="ignore", invalid="ignore"):
        exit_turnover = traded / (equity + cost * traded)
        growth_steps = equity[:, 1:] / equity[:, :-1]

    held_end = held & ~closed
    drifted = np.where(held_end, values[:, period, :], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        drifted /= equity[:, period, None]
    rebalance_turnover, opened = _rebalance_trades(targets, columns, drifted)

    growth = np.ones(n_days)
    growth[1:] = growth_steps.ravel()[: n_days - 1]
    turnover = np.zeros(n_days)
    turnover[1:] = exit_turnover[:, 1:].ravel()[: n_days - 1]
    offsets = rebalance - start
    growth[offsets] *= 1.0 - cost * rebalance_turnover
    turnover[offsets] += rebalance_turnover
    open_at_close = held.sum(axis=1)[:, None] - np.cumsum(n_closed, axis=1)
    invested = np.zeros(n_days, dtype=np.bool_)
    invested[1:] = (open_at_close[:, :-1] > 0).ravel()[: n_days - 1]

    returns, ruin = _apply_ruin(growth)
    if ruin is not None:
        turnover[ruin + 1 :] = 0.0
        invested[ruin + 1 :] = False
        opened[offsets > ruin] = 0
    book = Book(rebalance, columns, values, close_step, held, equity, start, stop, ruin)
    trades = np.zeros(n_days, dtype=np.intp)
    trades[offsets] = opened
    return Simulation(returns, turnover, invested, trades, int(opened.sum()), book)


def _gather(close: FloatPanel, days: IntArray, columns: IntArray) -> FloatPanel:
    """``close[days[p, s], columns[p, k]]``: the held assets' prices, periods x steps x slots."""
    shape = (*days.shape, columns.shape[1])
    if days.size * columns.shape[1] < COMPILED_SIZE:
        prices: FloatPanel = close[days[:, :, None], columns[:, None, :]]
        return prices
    from stratloop.backtest._compiled import gather_block  # noqa: PLC0415 - numba on demand

    out = np.empty(shape)
    gather_block(compiled_input(close), days, columns, out)
    return out


def _positions(
    prices: FloatPanel, w0: FloatPanel, held: BoolArray, exits: Exits, last: IntArray
) -> tuple[FloatPanel, IntArray, BoolArray]:
    """Position values per step, the step each closes at, and whether it closes in-period.

    ``prices`` is the caller's scratch: the values may be written into it.
    """
    n_steps = prices.shape[1]
    steps = np.arange(n_steps)
    finite = np.isfinite(prices)
    if finite.all():
        missing = np.full(w0.shape, n_steps, dtype=np.intp)
    else:
        missing = np.logical_and.accumulate(finite, axis=1).sum(axis=1)
    exit_step = _exit_steps(prices, w0, held, exits, last, n_steps)
    by_exit = exit_step < missing
    freeze = np.where(by_exit, exit_step, missing - 1)
    close_step = np.where(by_exit, exit_step, missing)
    closed = held & (close_step <= last[:, None])
    if (freeze == n_steps - 1).all():
        values = np.divide(prices, prices[:, :1, :].copy(), out=prices)
    else:
        values = np.take_along_axis(prices, np.minimum(steps[None, :, None], freeze[:, None, :]), 1)
        values /= prices[:, :1, :]
    values *= w0[:, None, :]
    return values, close_step, closed


def _sparse(targets: FloatPanel) -> tuple[IntArray, FloatPanel, BoolArray]:
    """Per rebalance row, the held columns and weights, padded to the widest row."""
    counts = np.count_nonzero(targets, axis=1)
    width = max(int(counts.max(initial=0)), 1)
    rows, cols = np.nonzero(targets)
    slots = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    shape = (targets.shape[0], width)
    columns = np.zeros(shape, dtype=np.intp)
    weights = np.zeros(shape)
    held = np.zeros(shape, dtype=np.bool_)
    columns[rows, slots] = cols
    weights[rows, slots] = targets[rows, cols]
    held[rows, slots] = True
    return columns, weights, held


def _exit_steps(
    prices: FloatPanel, w0: FloatPanel, held: BoolArray, exits: Exits, last: IntArray, n_steps: int
) -> IntArray:
    """The first step at whose close an exit fires (``n_steps`` if none)."""
    result = np.full(w0.shape, n_steps, dtype=np.intp)
    if exits.stop_loss is not None:
        with np.errstate(invalid="ignore"):
            ratio = prices / prices[:, :1, :]
            hit = np.where(
                (w0 > 0)[:, None, :], ratio <= 1.0 - exits.stop_loss, ratio >= 1.0 + exits.stop_loss
            )
        steps = np.arange(n_steps)
        allowed = (steps[None, :] >= 1) & (steps[None, :] <= last[:, None])
        hit &= allowed[:, :, None] & held[:, None, :]
        result = np.where(hit.any(axis=1), hit.argmax(axis=1), result)
    if exits.max_holding_days is not None:
        limit = exits.max_holding_days
        result = np.minimum(result, np.where(limit <= last, limit, n_steps)[:, None])
    return result


def _rebalance_trades(
    targets: FloatPanel, columns: IntArray, drifted: FloatPanel
) -> tuple[npt.NDArray[np.float64], IntArray]:
    """Turnover and positions opened at each rebalance, from the previous period's drift."""
    turnover = np.abs(targets).sum(axis=1)
    opened = np.count_nonzero(targets, axis=1)
    if len(targets) > 1:
        before = drifted[:-1]
        after = targets[1:][np.arange(len(targets) - 1)[:, None], columns[:-1]]
        overlap = np.abs(after) + np.abs(before) - np.abs(after - before)
        turnover[1:] += np.abs(before).sum(axis=1) - overlap.sum(axis=1)
        kept = (np.sign(after) == np.sign(before)) & (before != 0.0)
        opened[1:] -= kept.sum(axis=1)
    return turnover, opened


def _apply_ruin(growth: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], int | None]:
    """Daily returns; once the equity is gone the day returns -1 and later days 0."""
    ruined = ~(growth > 0.0)
    if not ruined.any():
        return growth - 1.0, None
    day = int(np.argmax(ruined))
    returns = growth - 1.0
    returns[day] = -1.0
    returns[day + 1 :] = 0.0
    return returns, day


def _check_positive(
    prices: FloatPanel,
    held: BoolArray,
    days: IntArray,
    columns: IntArray,
    names: tuple[tuple[str, ...], npt.NDArray[np.datetime64]],
) -> None:
    if np.fmin.reduce(prices, axis=None) > 0.0:
        return  # every price positive or missing, padding included
    bad = (prices <= 0.0) & held[:, None, :]
    if bad.any():
        period, step, slot = (int(i[0]) for i in np.nonzero(bad))
        assets, dates = names
        raise BacktestError(
            f"close price of {assets[columns[period, slot]]} on {dates[days[period, step]]} is "
            f"{prices[period, step, slot]}; prices must be > 0 (NaN for no price)"
        )
