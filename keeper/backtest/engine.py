"""The backtest loop: numpy over vaults/paths, a Python loop over time steps only.

Each step, for every path at once: advance the ledger's clock (funding accrues), update the estimators, mark the
account, liquidate what the market would liquidate, build the Snapshot, run the strategy and the overlay
(keeper.strategies.decide, the same call the live keeper makes), plan under the vault rules
(keeper.backtest.planner) and settle the trades on the ledger (exact integers or the float approximation,
keeper.backtest.ledger). Full series are kept for the first `record` paths; every path keeps running
aggregates, so 10,000 paths x 1,000 steps fit in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

import numpy as np

from keeper.backtest.config import MarketConfig, VaultRules
from keeper.backtest.ledger import ExactLedger, FloatLedger, Ledger, Marks, Totals
from keeper.backtest.paths import PricePaths
from keeper.backtest.planner import Action, KeeperState, MarketFloats, Plan, plan
from keeper.strategies import OverlayParams, Snapshot, StrategyError, StrategySpec, decide
from keeper.strategies.base import BoolArray, FloatArray, as_float_array, check_range
from keeper.strategies.estimators import EstimatorConfig, estimates, init_estimators, update_estimators

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class EngineConfig:
    initial_equity: float = 1_000_000.0  # collateral units
    min_trade: float = 0.01  # trades below this fraction of equity are not sent
    record: int = 1  # paths whose full series are kept (for charts)
    exact: bool = False  # settle with keeper.market_math integers instead of the float approximation
    estimators: EstimatorConfig = field(default_factory=EstimatorConfig)
    overlay: OverlayParams = field(default_factory=OverlayParams)

    def __post_init__(self) -> None:
        check_range("initial_equity", self.initial_equity, 0.0, 1e15, lo_open=True)
        check_range("min_trade", self.min_trade, 0.0, 1.0)
        check_range("record", self.record, 0, 10_000)


@dataclass(frozen=True)
class Series:
    """Full per-step series of the recorded paths, shape (r, n_steps + 1)."""

    equity: FloatArray
    leverage: FloatArray
    margin_ratio: FloatArray  # equity / gross notional (nan when flat)
    maintenance_ratio: FloatArray  # maintenance requirement / gross notional (nan when flat)
    action: FloatArray  # Action codes
    prices: FloatArray  # (n_steps + 1, r, a)


@dataclass(frozen=True)
class PathStats:
    """Running aggregates per path, shape (n,)."""

    final_equity: FloatArray
    max_drawdown: FloatArray
    underwater_steps: FloatArray
    longest_underwater: FloatArray  # seconds
    ret_sum: FloatArray
    ret_sq_sum: FloatArray
    down_sq_sum: FloatArray
    n_returns: FloatArray
    traded_notional: FloatArray
    rebalances: FloatArray
    iterates: FloatArray
    ripcords: FloatArray
    rejected: FloatArray
    liquidated: BoolArray
    liquidation_time: FloatArray  # nan when never
    min_liq_distance: FloatArray  # min over steps of (equity - maintenance) / equity while exposed
    max_leverage: FloatArray
    totals: Totals


@dataclass(frozen=True)
class SimResult:
    strategy: str
    params: dict[str, Any]
    rules: VaultRules
    market: MarketConfig
    config: EngineConfig
    paths_source: str
    assets: tuple[str, ...]
    times: FloatArray
    series: Series
    stats: PathStats


def _params_dict(params: Any) -> dict[str, Any]:
    return asdict(params) if is_dataclass(params) and not isinstance(params, type) else {}


class _Recorder:
    """Running per-path aggregates, updated once per step with the post-trade state."""

    def __init__(self, n: int, times: FloatArray, initial: float):
        self.times = times
        self.peak = np.full(n, initial)
        self.max_dd = np.zeros(n)
        self.under = np.zeros(n)
        self.under_since = np.full(n, np.nan)
        self.longest = np.zeros(n)
        self.ret_sum = np.zeros(n)
        self.ret_sq = np.zeros(n)
        self.down_sq = np.zeros(n)
        self.n_ret = np.zeros(n)
        self.prev = np.full(n, initial)
        self.min_dist = np.full(n, np.inf)
        self.max_lev = np.zeros(n)
        self.traded = np.zeros(n)
        self.counts = {a: np.zeros(n) for a in (Action.REBALANCE, Action.ITERATE, Action.RIPCORD)}
        self.rejected = np.zeros(n)

    def after_trades(self, k: int, equity: FloatArray, lev: FloatArray, p: Plan) -> None:
        self.max_lev = np.maximum(self.max_lev, lev)
        self.traded += p.traded_notional
        for action, count in self.counts.items():
            count += p.action == action
        self.rejected += p.rejected
        if k == 0:  # returns and drawdowns start after the opening trade (total return still counts its cost)
            self.prev = equity.copy()
            self.peak = equity.copy()
            return
        ok = self.prev > 0.0
        r = np.where(ok, equity / np.where(ok, self.prev, 1.0) - 1.0, 0.0)
        self.ret_sum += r
        self.ret_sq += r * r
        self.down_sq += np.minimum(r, 0.0) ** 2
        self.n_ret += ok
        self.prev = equity
        self.peak = np.maximum(self.peak, equity)
        dd = np.where(self.peak > 0.0, 1.0 - equity / self.peak, 0.0)
        self.max_dd = np.maximum(self.max_dd, dd)
        below = dd > 1e-12
        self.under += below
        since = self.under_since  # start of the current spell under water (the peak's time), nan if none
        self.longest = np.maximum(self.longest, np.where(np.isnan(since), 0.0, self.times[k] - since))
        self.under_since = np.where(below, np.where(np.isnan(since), self.times[k - 1], since), np.nan)

    def stats(self, final_equity: FloatArray, liquidated: BoolArray, liq_time: FloatArray, totals: Totals) -> PathStats:
        return PathStats(
            final_equity=final_equity,
            max_drawdown=self.max_dd,
            underwater_steps=self.under,
            longest_underwater=self.longest,
            ret_sum=self.ret_sum,
            ret_sq_sum=self.ret_sq,
            down_sq_sum=self.down_sq,
            n_returns=self.n_ret,
            traded_notional=self.traded,
            rebalances=self.counts[Action.REBALANCE],
            iterates=self.counts[Action.ITERATE],
            ripcords=self.counts[Action.RIPCORD],
            rejected=self.rejected,
            liquidated=liquidated,
            liquidation_time=liq_time,
            min_liq_distance=self.min_dist,
            max_leverage=self.max_lev,
            totals=totals,
        )


def _leverage(marks: Marks) -> FloatArray:
    """Gross notional / equity; infinite for an exposed vault without equity."""
    ok = marks.equity > 0.0
    flat_or_broke = np.where(marks.gross > 0.0, np.inf, 0.0)
    return as_float_array(np.where(ok, marks.gross / np.where(ok, marks.equity, 1.0), flat_or_broke))


def _record(series: Series, k: int, marks: Marks, lev: FloatArray, action: FloatArray) -> None:
    r = series.equity.shape[0]
    g = marks.gross[:r]
    flat = g <= 0.0
    per_gross = np.where(flat, 1.0, g)
    series.equity[:, k] = marks.equity[:r]
    series.leverage[:, k] = lev[:r]
    series.margin_ratio[:, k] = np.where(flat, np.nan, marks.equity[:r] / per_gross)
    series.maintenance_ratio[:, k] = np.where(flat, np.nan, marks.maintenance[:r] / per_gross)
    series.action[:, k] = action[:r]


def _check_inputs(paths: PricePaths, spec: StrategySpec[Any], market: MarketConfig) -> None:
    if "options" in spec.needs:
        raise StrategyError(f"{spec.name}: needs option legs, which the backtester does not simulate")
    if "implied_vol" in spec.needs and paths.implied_vol is None:
        raise StrategyError(f"{spec.name}: needs implied volatility; use a generator (gbm, garch, jump), not a CSV")
    if market.assets != paths.n_assets:
        raise StrategyError(f"market: {market.assets} markets configured for {paths.n_assets} assets")


def simulate(
    paths: PricePaths,
    spec: StrategySpec[Any],
    params: Any,
    rules: VaultRules,
    market: MarketConfig,
    cfg: EngineConfig | None = None,
    progress: Progress | None = None,
    ledger: Ledger | None = None,
) -> SimResult:
    """Run `spec` over every path. `ledger` defaults to a fresh ExactLedger or FloatLedger (cfg.exact);
    pass one to inspect the accounts afterwards."""
    cfg = cfg or EngineConfig()
    _check_inputs(paths, spec, market)
    n, steps, a = paths.n_paths, paths.n_steps, paths.n_assets
    times = paths.times
    if ledger is None:
        ledger = (ExactLedger if cfg.exact else FloatLedger)(n, cfg.initial_equity, market)
    view = market.view()
    mf = MarketFloats.of(market)
    r = min(cfg.record, n)
    rec_shape = (r, steps + 1)
    series = Series(
        equity=np.full(rec_shape, np.nan),
        leverage=np.full(rec_shape, np.nan),
        margin_ratio=np.full(rec_shape, np.nan),
        maintenance_ratio=np.full(rec_shape, np.nan),
        action=np.zeros(rec_shape),
        prices=as_float_array(paths.prices[:, :r].copy()),
    )
    acc = _Recorder(n, times, cfg.initial_equity)
    alive = np.ones(n, dtype=np.bool_)
    liq_time = np.full(n, np.nan)
    ks = KeeperState.start(n, a)
    est_state = init_estimators(paths.prices[0], float(times[0]), cfg.estimators)
    state: Any = None

    for k in range(steps + 1):
        t = float(times[k])
        prices = paths.prices[k]
        ledger.advance(t)
        if k > 0:
            est_state = update_estimators(est_state, prices, t, cfg.estimators)
        marks = ledger.mark(prices)
        exposed = marks.gross > 0.0
        safe = np.where(marks.equity > 0.0, marks.equity, 1.0)
        dist = np.where(exposed & alive, (marks.equity - marks.maintenance) / safe, np.inf)
        acc.min_dist = np.minimum(acc.min_dist, dist)
        liq = alive & exposed & (marks.equity < marks.maintenance)
        if liq.any():
            ledger.liquidate(liq, prices)
            alive &= ~liq
            liq_time = np.where(liq, t, liq_time)
            marks = ledger.mark(prices)
        equity = marks.equity
        safe = np.where(equity > 0.0, equity, 1.0)
        exposure = as_float_array(marks.notional / safe[:, None])
        snap = Snapshot(
            time=t,
            prices=prices,
            equity=equity,
            exposure=exposure,
            peak_equity=acc.peak,
            est=estimates(est_state, cfg.estimators),
            market=view,
            implied_vol=None if paths.implied_vol is None else np.broadcast_to(paths.implied_vol[k], (n, a)),
        )
        if state is None:
            state = spec.init_state(snap, params)
        target, state = decide(spec, snap, params, state, cfg.overlay)
        p = plan(t, rules, ks, exposure, target, equity, prices, ledger.sizes(), mf, alive, cfg.min_trade)
        ks = p.state
        if p.delta_size.any():
            ledger.trade(p.delta_size, prices)
            marks = ledger.mark(prices)
        lev = _leverage(marks)
        acc.after_trades(k, marks.equity, lev, p)
        if r:
            _record(series, k, marks, lev, np.where(liq, float(Action.LIQUIDATED), p.action))
        if progress is not None:
            progress(k + 1, steps + 1)

    stats = acc.stats(marks.equity, ~alive, liq_time, ledger.totals(paths.prices[-1]))
    return SimResult(
        strategy=spec.name,
        params=_params_dict(params),
        rules=rules,
        market=market,
        config=cfg,
        paths_source=paths.source,
        assets=paths.assets,
        times=times,
        series=series,
        stats=stats,
    )
