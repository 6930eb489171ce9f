"""``run_backtest``: a signal panel and a portfolio rule become daily returns and metrics.

Semantics (rows are trading days of the panel):

- The signal at row t uses data up to t. On a rebalance row t (``start``,
  ``start + rebalance_days``, …) target weights are formed from ``signal[t]``
  among eligible assets (finite signal and a close price at t) and traded at
  the close of t, so they earn returns from t+1 on.
- Between rebalances the weights drift with prices; nothing is traded except
  exits and closures.
- Costs: ``cost_bps`` basis points of turnover (the sum of absolute weight
  changes, measured against that close's equity), taken from that day's
  return: ``1 + r = (1 + r_gross) * (1 - cost * turnover)``.
- A held asset with no price on a day is closed at its last price: it earns 0
  that day and the sale is a trade (turnover and cost on that day). It can be
  bought again at a later rebalance if its price is back.
- Exits (checked at each close strictly between two rebalances; a rebalance
  day is decided by the rebalance): ``stop_loss`` closes a long whose close has
  fallen to ``(1 - stop_loss)`` times, or a short whose close has risen to
  ``(1 + stop_loss)`` times, the close of the rebalance that set the position;
  ``max_holding_days`` closes a position at the close of the ``h``-th day after
  that rebalance. Both are measured from the last rebalance because every
  rebalance re-sets each position to its target.
- Day ``start`` returns only the cost of the first trade (nothing is held
  before it); positions still open at the end are not liquidated.
- If the equity reaches zero or below, that day's return is -1 and every
  later day returns 0 with no positions (the strategy is ruined).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from stratloop._types import FloatPanel
from stratloop.backtest._simulate import Book, simulate
from stratloop.backtest.metrics import Metrics, compute_metrics
from stratloop.data.panel import Panel
from stratloop.errors import BacktestError
from stratloop.spec import Exits, LongShort, PortfolioRule, Strategy, Threshold, TopN

__all__ = ["BacktestResult", "run_backtest"]


@dataclass(frozen=True, slots=True, eq=False)
class BacktestResult:
    """The outcome of one backtest over rows ``start:stop`` of a panel.

    Args:
        dates: the dates of the segment.
        assets: the panel's asset names.
        returns: daily net returns (one per date).
        turnover: daily turnover, sum of absolute weight changes.
        invested: true on days a position was held from the previous close.
        trades: positions opened each day (nonzero on rebalance days only).
        n_trades: positions opened.
        metrics: the segment's metrics.
    """

    dates: npt.NDArray[np.datetime64]
    assets: tuple[str, ...]
    returns: npt.NDArray[np.float64]
    turnover: npt.NDArray[np.float64]
    invested: npt.NDArray[np.bool_]
    trades: npt.NDArray[np.intp]
    n_trades: int
    metrics: Metrics
    _book: Book = field(repr=False)

    def weights(self) -> FloatPanel:
        """End-of-day weights (dates x assets) after each day's trades; built on demand."""
        return self._book.weights(len(self.assets))


def run_backtest(
    signal: FloatPanel,
    panel: Panel,
    strategy: Strategy | PortfolioRule,
    *,
    exits: Exits | None = None,
    cost_bps: float,
    start: int = 0,
    stop: int | None = None,
    annualization: int = 252,
    n_trials: int = 1,
) -> BacktestResult:
    """Backtest a signal panel with a portfolio rule (semantics in the module docstring).

    Args:
        signal: dates x assets float64 signal, aligned with ``panel``.
        panel: the price panel (``close`` is used).
        strategy: a full strategy (its rule and exits are used) or just a rule.
        exits: exits for a bare rule; must be left unset with a ``Strategy``.
        cost_bps: cost in basis points of turnover (>= 0).
        start: first row (the first rebalance).
        stop: one past the last row (default: the panel's end).
        annualization: trading days per year, for the metrics.
        n_trials: candidates tried in the run, for the deflated Sharpe.

    Raises:
        BacktestError: inputs that do not fit together, naming the value.
    """
    rule, chosen_exits = _rule_and_exits(strategy, exits)
    n_dates = len(panel.dates)
    end = n_dates if stop is None else stop
    _check(signal, panel, cost_bps, start, end, annualization, n_trials)
    sim = simulate(
        panel.close,
        signal,
        rule,
        chosen_exits,
        cost=cost_bps / 10_000.0,
        start=start,
        stop=end,
        names=(panel.assets, panel.dates),
    )
    metrics = compute_metrics(
        sim.returns,
        turnover=sim.turnover,
        invested=sim.invested,
        n_trades=sim.n_trades,
        annualization=annualization,
        n_trials=n_trials,
    )
    return BacktestResult(
        dates=panel.dates[start:end],
        assets=panel.assets,
        returns=sim.returns,
        turnover=sim.turnover,
        invested=sim.invested,
        trades=sim.trades,
        n_trades=sim.n_trades,
        metrics=metrics,
        _book=sim.book,
    )


def _rule_and_exits(
    strategy: Strategy | PortfolioRule, exits: Exits | None
) -> tuple[PortfolioRule, Exits]:
    if isinstance(strategy, Strategy):
        if exits is not None:
            raise BacktestError(
                "exits were passed along with a Strategy, which has its own; "
                "set them on the strategy or pass a bare portfolio rule"
            )
        return strategy.portfolio, strategy.exits
    if not isinstance(strategy, TopN | LongShort | Threshold):
        raise BacktestError(
            f"strategy must be a Strategy or a portfolio rule (TopN, LongShort, Threshold), "
            f"got {type(strategy).__name__}"
        )
    return strategy, Exits() if exits is None else exits


def _check(
    signal: FloatPanel,
    panel: Panel,
    cost_bps: float,
    start: int,
    stop: int,
    annualization: int,
    n_trials: int,
) -> None:
    if not isinstance(signal, np.ndarray) or signal.dtype != np.float64:
        kind = getattr(signal, "dtype", type(signal).__name__)
        raise BacktestError(f"signal must be a float64 numpy array, got {kind}")
    if signal.shape != panel.shape:
        raise BacktestError(
            f"signal has shape {signal.shape} but panel {panel.name!r} has shape {panel.shape}"
        )
    if not (math.isfinite(cost_bps) and 0.0 <= cost_bps <= 10_000.0):
        raise BacktestError(f"cost_bps must be between 0 and 10000, got {cost_bps!r}")
    if not 0 <= start < stop <= len(panel.dates):
        raise BacktestError(
            f"rows start={start}, stop={stop} do not select a non-empty range of the "
            f"{len(panel.dates)} dates of panel {panel.name!r}"
        )
    if annualization < 1:
        raise BacktestError(f"annualization must be >= 1, got {annualization}")
    if n_trials < 1:
        raise BacktestError(f"n_trials must be >= 1, got {n_trials}")
