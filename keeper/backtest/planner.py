"""The keeper's guards and priorities under the vault rules, vectorised over vaults (the backtester's planner).

Per step and vault, in priority order (L = gross leverage = sum |notional| / equity):
1. RIPCORD   when L >= ripcord_leverage and ripcord_cooldown has passed since the last ripcord: delever to
             max_leverage (all assets in proportion, BAND_CUSHION below it), at most
             ripcord_max_trade_notional, slippage up to ripcord_slippage; a pending chunked rebalance is
             dropped.
2. ITERATE   when a chunked rebalance is pending and chunk_cooldown has passed since the last trade: continue
             toward the stored target, at most max_trade_notional.
3. REBALANCE when nothing is pending and (rebalance_interval has passed since the last rebalance or L is
             outside [min_leverage, max_leverage]): the strategy's target (after the overlay) clamped into the
             band (BAND_CUSHION inside its edges, so the trade's own costs cannot push it out) and below the
             initial-margin limit; at most max_trade_notional, the rest is stored (pending).
A trade smaller than `min_trade` x equity is not sent. Every chunk is clipped so that the fill stays within
the slippage bound: |fill / price - 1| = |2 skew + d| / (2 skew_scale) <= slippage.
Before sending, the trade is checked against the vault's acceptance rule, as predicted from the fill
formula: after it L must be inside [min, max] or strictly closer to target_leverage, and never above
max_leverage unless it went down. A trade that fails is not sent (counted as rejected).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

import numpy as np

from keeper.backtest.config import MarketConfig, VaultRules
from keeper.market_math import WAD
from keeper.strategies.base import BoolArray, FloatArray, as_float_array


# Goals stay this far inside the band edges, so that the trade's own fee and price impact (which lower
# equity and so raise leverage) cannot push the result past max_leverage.
BAND_CUSHION = 0.002
TINY = 1e-12  # leverage below this counts as flat (avoids dividing by denormals)


class Action(IntEnum):
    NONE = 0
    REBALANCE = 1
    ITERATE = 2
    RIPCORD = 3
    LIQUIDATED = 4  # recorded by the engine, never planned


@dataclass(frozen=True)
class KeeperState:
    last_rebalance: FloatArray  # (n,) time of the last rebalance that traded
    last_trade: FloatArray  # (n,)
    last_ripcord: FloatArray  # (n,)
    pending: BoolArray  # (n,)
    pending_target: FloatArray  # (n, a) signed leverage

    @classmethod
    def start(cls, n: int, a: int) -> KeeperState:
        never = np.full(n, -np.inf)
        return cls(never, never.copy(), never.copy(), np.zeros(n, dtype=np.bool_), np.zeros((n, a)))


@dataclass(frozen=True)
class MarketFloats:
    skew_scale: FloatArray  # (a,) asset units
    taker_fee: FloatArray  # (a,)
    initial_margin: FloatArray  # (a,)
    background_skew: FloatArray  # (a,)
    liquidation_fee_ratio: float
    min_keeper_fee: float
    max_keeper_fee: float

    @classmethod
    def of(cls, market: MarketConfig) -> MarketFloats:
        return cls(
            skew_scale=market.floats("skew_scale"),
            taker_fee=market.floats("taker_fee"),
            initial_margin=market.floats("initial_margin_ratio"),
            background_skew=market.skew_background(),
            liquidation_fee_ratio=market.liquidation_fee_ratio / WAD,
            min_keeper_fee=market.min_keeper_fee / WAD,
            max_keeper_fee=market.max_keeper_fee / WAD,
        )


@dataclass(frozen=True)
class Plan:
    action: FloatArray  # (n,) Action codes as floats (cheap to record)
    delta_size: FloatArray  # (n, a) asset units to trade
    traded_notional: FloatArray  # (n,) sum |delta_size| * price
    rejected: BoolArray  # (n,)
    state: KeeperState


def gross(x: FloatArray) -> FloatArray:
    return as_float_array(np.abs(x).sum(axis=1))


def clamp_to_band(target: FloatArray, exposure: FloatArray, rules: VaultRules) -> FloatArray:
    """Scale each row so that its gross leverage lies in [min_leverage, max_leverage] (BAND_CUSHION inside);
    a zero target with min_leverage > 0 keeps the current direction at min_leverage."""
    g = gross(target)
    lev = gross(exposure)
    clamped = np.clip(g, rules.min_leverage * (1.0 + BAND_CUSHION), rules.max_leverage * (1.0 - BAND_CUSHION))
    scaled = target * (clamped / np.where(g > TINY, g, 1.0))[:, None]
    keep = exposure * (rules.min_leverage * (1.0 + BAND_CUSHION) / np.where(lev > TINY, lev, 1.0))[:, None]
    return as_float_array(np.where((g > TINY)[:, None], scaled, keep))


def cap_initial_margin(target: FloatArray, equity: FloatArray, m: MarketFloats) -> FloatArray:
    """Scale down so that sum |x_j| imr_j + keeper_fee / E <= 1 (equity covers the initial requirement)."""
    g = gross(target)
    safe_eq = np.where(equity > 0.0, equity, 1.0)
    kf = np.clip(g * safe_eq * m.liquidation_fee_ratio, m.min_keeper_fee, m.max_keeper_fee) / safe_eq
    need = (np.abs(target) * m.initial_margin).sum(axis=1)
    room = np.maximum(1.0 - kf, 0.0) * 0.999
    k = np.ones_like(need)
    np.divide(room, need, out=k, where=need > room)
    return as_float_array(target * k[:, None])


def _limit_slippage(d: FloatArray, skew: FloatArray, m: MarketFloats, slippage: FloatArray) -> FloatArray:
    """Clip each size change so that |2 skew + d| / (2 K) <= slippage on the adverse side (no sign flips)."""
    room = 2.0 * m.skew_scale * slippage[:, None]
    upper = np.maximum(room - 2.0 * skew, 0.0)
    lower = np.minimum(-room - 2.0 * skew, 0.0)
    return as_float_array(np.clip(d, lower, upper))


def plan(
    t: float,
    rules: VaultRules,
    ks: KeeperState,
    exposure: FloatArray,
    target: FloatArray,
    equity: FloatArray,
    prices: FloatArray,
    sizes: FloatArray,
    m: MarketFloats,
    active: BoolArray,
    min_trade: float,
) -> Plan:
    ok = active & (equity > 0.0)
    safe_eq = np.where(ok, equity, 1.0)
    lev = np.where(ok, gross(exposure), 0.0)

    ripcord = ok & (lev >= rules.ripcord_leverage) & (t - ks.last_ripcord >= rules.ripcord_cooldown)
    iterate = ok & ~ripcord & ks.pending & (t - ks.last_trade >= rules.chunk_cooldown)
    due = (t - ks.last_rebalance >= rules.rebalance_interval) | (lev < rules.min_leverage) | (lev > rules.max_leverage)
    rebalance = ok & ~ripcord & ~ks.pending & due

    delever = exposure * (rules.max_leverage * (1.0 - BAND_CUSHION) / np.where(lev > TINY, lev, 1.0))[:, None]
    fresh = cap_initial_margin(clamp_to_band(target, exposure, rules), safe_eq, m)
    goal = np.where(ripcord[:, None], delever, np.where(iterate[:, None], ks.pending_target, fresh))
    acting = ripcord | iterate | rebalance

    want = np.where(acting[:, None], (goal - exposure) * safe_eq[:, None] / prices, 0.0)
    want_notional = (np.abs(want) * prices).sum(axis=1)
    cap = np.where(ripcord, rules.ripcord_max_trade_notional, rules.max_trade_notional)
    chunk = np.ones_like(want_notional)
    np.divide(cap, want_notional, out=chunk, where=want_notional > cap)
    skew = sizes + m.background_skew
    slip = np.where(ripcord, rules.ripcord_slippage, rules.max_slippage)
    d = _limit_slippage(as_float_array(want * chunk[:, None]), as_float_array(skew), m, as_float_array(slip))
    traded = (np.abs(d) * prices).sum(axis=1)
    big_enough = traded >= min_trade * safe_eq

    # The vault's acceptance rule, predicted with the fill formula (fee and price impact lower equity).
    impact = d * prices * (2.0 * skew + d) / (2.0 * m.skew_scale)
    cost = (np.abs(d) * prices * m.taker_fee + impact).sum(axis=1)
    eq_after = safe_eq - cost
    lev_after = np.where(eq_after > 0.0, gross(exposure * safe_eq[:, None] + d * prices) / eq_after, np.inf)
    in_band = (lev_after >= rules.min_leverage) & (lev_after <= rules.max_leverage)
    closer = np.abs(lev_after - rules.target_leverage) < np.abs(lev - rules.target_leverage)
    accepted = (in_band | closer) & ((lev_after <= rules.max_leverage) | (lev_after < lev))

    send = acting & big_enough & accepted
    rejected = acting & big_enough & ~accepted
    remaining = (np.abs(want - d) * prices).sum(axis=1)
    still_pending = send & ~ripcord & (remaining >= min_trade * safe_eq)
    pending = np.where(ripcord | (iterate & ~send) | rejected, False, np.where(send, still_pending, ks.pending))
    code = np.where(send, np.where(ripcord, Action.RIPCORD, np.where(iterate, Action.ITERATE, Action.REBALANCE)), 0)

    new_state = replace(
        ks,
        last_rebalance=np.where(send & rebalance, t, ks.last_rebalance),
        last_trade=np.where(send, t, ks.last_trade),
        last_ripcord=np.where(send & ripcord, t, ks.last_ripcord),
        pending=np.asarray(pending, dtype=np.bool_),
        pending_target=as_float_array(np.where((send & (rebalance | iterate))[:, None], goal, ks.pending_target)),
    )
    return Plan(
        action=as_float_array(code),
        delta_size=as_float_array(np.where(send[:, None], d, 0.0)),
        traded_notional=as_float_array(np.where(send, traded, 0.0)),
        rejected=np.asarray(rejected, dtype=np.bool_),
        state=new_state,
    )
