"""Sizing strategies: fixed fraction, leverage band with recentering, volatility targeting, fractional Kelly.

Notation: L = current gross leverage sum_j |x_j| of a vault, x_j its signed leverage on asset j, w_j the
asset weights (equal, 1/a, unless given), side = +1 long / -1 short, s_j the volatility estimate.
Each returns the signed target leverage per asset (see keeper.strategies.base).

fixed_fraction:      target_j = side * leverage * w_j
leverage_band:       when L < min_leverage or L > max_leverage (Index Coop FLI recentering)
                         L' = max(min_leverage, min(max_leverage, L * (1 - speed) + target_leverage * speed))
                         target_j = x_j * L' / L                      (direction kept)
                     inside the band the target is the current position (no trade); a flat vault engages
                     at target_j = side * target_leverage * w_j.
vol_target:          target_j = side * w_j * min(max_leverage, target_vol / max(s_j, min_vol)),
                     s_j = EWMA realised vol; the row is then scaled so sum_j |target_j| <= max_leverage.
vol_target_implied:  the same with s_j = sqrt(k * iv_j^2 + (1 - k) * rv_j^2), k = implied_weight.
kelly:               shrinkage toward a prior, with n = effective observations and n0 = prior_strength,
                         mu_s    = (n * mu_hat + n0 * prior_drift) / (n + n0)
                         Sigma_s = (n * Sigma_hat + n0 * prior_vol^2 * I) / (n + n0)
                         target  = fraction * Sigma_s^-1 (mu_s - rate)
                     (long_only clips at 0), then scaled so sum_j |target_j| <= max_leverage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keeper.strategies.base import (
    FloatArray,
    Snapshot,
    State,
    StrategyError,
    as_float_array,
    check_range,
    check_side,
    equal_weights,
    scale_gross,
)

MAX_LEVERAGE = 20.0


def _weights(snap: Snapshot, weights: tuple[float, ...]) -> FloatArray:
    if not weights:
        return equal_weights(snap)
    if len(weights) != snap.assets:
        raise StrategyError(f"weights: expected {snap.assets} values (one per asset), got {len(weights)}")
    w = np.asarray(weights, dtype=np.float64)
    return as_float_array(np.broadcast_to(w / w.sum(), snap.prices.shape))


def _check_weights(weights: tuple[float, ...]) -> None:
    for w in weights:
        check_range("weights", w, 0.0, 1e9)
    if weights and sum(weights) <= 0.0:
        raise StrategyError(f"weights: must sum to more than 0, got {weights}")


@dataclass(frozen=True)
class FixedFractionParams:
    leverage: float = 1.0
    side: int = 1
    weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        check_range("leverage", self.leverage, 0.0, MAX_LEVERAGE, lo_open=True)
        check_side("side", self.side)
        _check_weights(self.weights)


def fixed_fraction(snap: Snapshot, p: FixedFractionParams, state: State) -> tuple[FloatArray, State]:
    return as_float_array(p.side * p.leverage * _weights(snap, p.weights)), state


@dataclass(frozen=True)
class LeverageBandParams:
    target_leverage: float = 2.0
    min_leverage: float = 1.7
    max_leverage: float = 2.3
    recenter_speed: float = 0.05
    side: int = 1
    recenter_inside_band: bool = False

    def __post_init__(self) -> None:
        check_range("target_leverage", self.target_leverage, 0.0, MAX_LEVERAGE, lo_open=True)
        check_range("min_leverage", self.min_leverage, 0.0, self.target_leverage)
        check_range("max_leverage", self.max_leverage, self.target_leverage, MAX_LEVERAGE)
        check_range("recenter_speed", self.recenter_speed, 0.0, 1.0, lo_open=True)
        check_side("side", self.side)


def recenter(lev: FloatArray, p: LeverageBandParams) -> FloatArray:
    """The FLI formula, L' = clip(L (1 - speed) + target * speed, min, max)."""
    moved = lev * (1.0 - p.recenter_speed) + p.target_leverage * p.recenter_speed
    return as_float_array(np.clip(moved, p.min_leverage, p.max_leverage))


def leverage_band(snap: Snapshot, p: LeverageBandParams, state: State) -> tuple[FloatArray, State]:
    lev = snap.gross_leverage()
    outside = (lev < p.min_leverage) | (lev > p.max_leverage) | p.recenter_inside_band
    new_lev = np.where(outside, recenter(lev, p), lev)
    flat = lev <= 0.0
    direction = snap.exposure / np.where(flat, 1.0, lev)[:, None]
    engaged = p.side * p.target_leverage * equal_weights(snap)
    target = np.where(flat[:, None], engaged, direction * new_lev[:, None])
    return as_float_array(target), state


@dataclass(frozen=True)
class VolTargetParams:
    target_vol: float = 0.5  # per sqrt(year)
    max_leverage: float = 3.0
    min_vol: float = 0.05
    side: int = 1

    def __post_init__(self) -> None:
        check_range("target_vol", self.target_vol, 0.0, 5.0, lo_open=True)
        check_range("max_leverage", self.max_leverage, 0.0, MAX_LEVERAGE, lo_open=True)
        check_range("min_vol", self.min_vol, 0.0, 5.0, lo_open=True)
        check_side("side", self.side)


def _vol_target(snap: Snapshot, p: VolTargetParams, vol: FloatArray) -> FloatArray:
    sleeve = np.minimum(p.max_leverage, p.target_vol / np.maximum(vol, p.min_vol))
    return scale_gross(as_float_array(p.side * equal_weights(snap) * sleeve), p.max_leverage)


def vol_target(snap: Snapshot, p: VolTargetParams, state: State) -> tuple[FloatArray, State]:
    return _vol_target(snap, p, snap.est.vol), state


@dataclass(frozen=True)
class ImpliedVolTargetParams(VolTargetParams):
    implied_weight: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("implied_weight", self.implied_weight, 0.0, 1.0)


def vol_target_implied(snap: Snapshot, p: ImpliedVolTargetParams, state: State) -> tuple[FloatArray, State]:
    if snap.implied_vol is None:
        raise StrategyError("vol_target_implied: the snapshot has no implied_vol")
    k = p.implied_weight
    vol = np.sqrt(k * snap.implied_vol**2 + (1.0 - k) * snap.est.vol**2)
    return _vol_target(snap, p, as_float_array(vol)), state


@dataclass(frozen=True)
class KellyParams:
    fraction: float = 0.5
    prior_drift: float = 0.0  # per year
    prior_vol: float = 0.8  # per sqrt(year)
    prior_strength: float = 500.0  # observations the prior is worth
    rate: float = 0.0  # per year, the return of holding collateral
    max_leverage: float = 3.0
    long_only: bool = False

    def __post_init__(self) -> None:
        check_range("fraction", self.fraction, 0.0, 1.0, lo_open=True)
        check_range("prior_drift", self.prior_drift, -5.0, 5.0)
        check_range("prior_vol", self.prior_vol, 0.0, 5.0, lo_open=True)
        check_range("prior_strength", self.prior_strength, 0.0, 1e7)
        check_range("rate", self.rate, -1.0, 1.0)
        check_range("max_leverage", self.max_leverage, 0.0, MAX_LEVERAGE, lo_open=True)


def kelly(snap: Snapshot, p: KellyParams, state: State) -> tuple[FloatArray, State]:
    n_obs = snap.est.n_eff[:, None]
    total = n_obs + p.prior_strength
    w_data = np.where(total > 0.0, n_obs / np.where(total > 0.0, total, 1.0), 1.0)
    mu = w_data * snap.est.drift + (1.0 - w_data) * p.prior_drift - p.rate
    if snap.assets == 1:
        var = w_data * snap.est.cov[:, :, 0] + (1.0 - w_data) * p.prior_vol**2
        raw = mu / np.maximum(var, 1e-12)
    else:
        eye = np.eye(snap.assets)
        wd = w_data[:, :, None]
        cov = wd * snap.est.cov + (1.0 - wd) * p.prior_vol**2 * eye + 1e-12 * eye
        raw = np.linalg.solve(cov, mu[:, :, None])[:, :, 0]
    target = p.fraction * raw
    if p.long_only:
        target = np.maximum(target, 0.0)
    return scale_gross(as_float_array(target), p.max_leverage), state
