"""Delta hedging of option legs with a gamma-aware no-trade band (Whalley and Wilmott, 1997).

For a book of q options per asset (keeper.strategies.base.OptionBook) with Black-Scholes delta D and gamma
Gamma per option, the perp hedge that makes the book delta-neutral is h* = -q D (asset units). Trading
continuously would pay costs without end, so the hedge h is only traded when it leaves the band

    |h - h*| <= H,   H = (3 e^{-r T} lambda S (q Gamma)^2 / (2 gamma))^(1/3)

where lambda is the proportional cost of a trade (taker fee, or `cost` when set), S the price, T the time to
expiry and gamma the absolute risk aversion, given per unit of equity: gamma = risk_aversion / E. When h is
outside the band it is moved to the nearest edge (Whalley-Wilmott's optimum; `rebalance_to="center"` moves
it to h* instead). The target leverage is h_new * S / E.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from keeper.strategies.base import (
    SECONDS_PER_YEAR,
    FloatArray,
    ParamError,
    Snapshot,
    State,
    StrategyError,
    as_float_array,
    check_range,
    solvent,
)
from keeper.strategies.greeks import bs_greeks


def whalley_wilmott_half_width(
    gamma: npt.ArrayLike,
    spot: npt.ArrayLike,
    cost: npt.ArrayLike,
    risk_aversion: npt.ArrayLike,
    t: npt.ArrayLike = 0.0,
    rate: npt.ArrayLike = 0.0,
) -> FloatArray:
    """H = (3 e^{-rT} cost S gamma^2 / (2 risk_aversion))^(1/3), in the units of the hedge."""
    g = as_float_array(gamma)
    inner = 1.5 * np.exp(-as_float_array(rate) * as_float_array(t)) * as_float_array(cost) * as_float_array(spot)
    return as_float_array(np.cbrt(inner * g * g / as_float_array(risk_aversion)))


def band_rebalance(hedge: FloatArray, center: FloatArray, half_width: FloatArray, to_edge: bool = True) -> FloatArray:
    """Keep `hedge` inside [center - H, center + H]: unchanged inside, else to the nearest edge (or center)."""
    gap = hedge - center
    outside = np.abs(gap) > half_width
    moved = center + np.sign(gap) * half_width if to_edge else center
    return as_float_array(np.where(outside, moved, hedge))


@dataclass(frozen=True)
class DeltaHedgeParams:
    risk_aversion: float = 1.0  # per unit of equity
    cost: float = 0.0  # proportional trading cost; 0 = the market's taker fee
    rebalance_to: str = "edge"
    use_implied: bool = True

    def __post_init__(self) -> None:
        check_range("risk_aversion", self.risk_aversion, 0.0, 1e9, lo_open=True)
        check_range("cost", self.cost, 0.0, 0.5)
        if self.rebalance_to not in ("edge", "center"):
            raise ParamError(f"rebalance_to: must be 'edge' or 'center', got {self.rebalance_to!r}")


def delta_hedge(snap: Snapshot, p: DeltaHedgeParams, state: State) -> tuple[FloatArray, State]:
    book = snap.options
    if book is None:
        raise StrategyError("delta_hedge: the snapshot has no option legs to hedge")
    vol = snap.implied_vol if (p.use_implied and snap.implied_vol is not None) else snap.est.vol
    t = (book.expiry - snap.time) / SECONDS_PER_YEAR
    g = bs_greeks(snap.prices, book.strike, t, vol, book.rate, 0.0, book.is_call)
    if p.cost > 0.0:
        cost: FloatArray | float = p.cost
    elif snap.market.taker_fee is not None:
        cost = snap.market.taker_fee
    else:
        cost = 0.0
    ok = solvent(snap)
    equity = np.where(ok, snap.equity, 1.0)[:, None]
    center = -book.qty * g.delta
    half = whalley_wilmott_half_width(book.qty * g.gamma, snap.prices, cost, p.risk_aversion / equity, t, book.rate)
    hedge = snap.exposure * equity / snap.prices
    new = band_rebalance(as_float_array(hedge), as_float_array(center), half, p.rebalance_to == "edge")
    target = np.where(ok[:, None], new * snap.prices / equity, 0.0)
    return as_float_array(target), state
