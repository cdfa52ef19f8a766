"""Path-dependent scaling strategies: pyramiding, scaling out, mean reversion, martingale (DANGEROUS),
recursive feedback and trend strength.

The price-driven ones work on the favourable price y = P for longs and y = 1/P for shorts, so "the trade
is going our way" is always "y went up". w_j = 1/a is the asset weight; side = +1 long / -1 short; each
asset runs its own ladder; every target is then capped so that sum_j |target_j| <= max_leverage.

pyramid (anti-martingale, trailing stop):
    adds  = max(adds, clip(floor((y / entry - 1) / add_step), 0, max_adds))      (a ratchet)
    peak  = max(peak, y);  stop when y <= peak * (1 - trailing_stop)
    target_j = side * w_j * min(max_leverage, base_leverage + adds * add_leverage), 0 once stopped;
    a stopped sleeve re-enters (adds = 0, entry = y) when y exceeds the peak it was stopped from.
scale_out (tranches at profit targets g_1 < g_2 < ...):
    hit = max(hit, #{k : y / entry - 1 >= g_k});  target_j = side * w_j * base_leverage * (1 - sum_{k<=hit} f_k)
    re-armed (hit = 0, entry = y) when the price falls back to the entry after a tranche was taken.
mean_reversion (stepped, capped), z = EWMA z-score of ln P:
    levels = 0 if |z| < z_entry else 1 + floor((|z| - z_entry) / z_step)
    target_j = -sign(z_j) * min(max_leverage, unit_leverage * levels_j)      (long_only clips at 0)
martingale_DANGEROUS (doubles into losses; hard caps are mandatory):
    k = max(k, clip(floor((1 - y / ref) / step), 0, max_doublings));  reset k = 0, ref = y when y >= ref
    target_j = side * w_j * min(max_leverage, base_leverage * 2^k)
feedback (recursive scaling on realised P&L and drawdown), E = equity, E* = its peak:
    scale = clip(scale * exp(gain * (E_t / E_{t-1} - 1)), min_scale, max_scale)
    damp  = clip(1 - (1 - E / E*) / drawdown_limit, 0, 1)
    target_j = side * w_j * min(max_leverage, base_leverage * scale * damp)
trend_strength, s = trend score (keeper.strategies.estimators), dead zone d:
    target_j = max_leverage * w_j * tanh(sensitivity * sign(s_j) * max(|s_j| - d, 0))   (long_only clips at 0)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from keeper.strategies.base import (
    DangerousStrategyWarning,
    FloatArray,
    ParamError,
    Snapshot,
    State,
    as_float_array,
    check_increasing,
    check_range,
    check_side,
    equal_weights,
    favourable,
    scale_gross,
    solvent,
)
from keeper.strategies.sizing import MAX_LEVERAGE

# Thresholds count as reached within float noise (1.05 / 1.00 - 1 may be 0.04999...).
_EPS = 1e-9


def _check_leverage(name: str, value: float) -> None:
    check_range(name, value, 0.0, MAX_LEVERAGE, lo_open=True)


def _sleeves(snap: Snapshot, side: int, lev: FloatArray, max_leverage: float) -> FloatArray:
    return scale_gross(as_float_array(side * equal_weights(snap) * np.minimum(lev, max_leverage)), max_leverage)


# --- pyramiding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PyramidParams:
    base_leverage: float = 1.0
    add_leverage: float = 0.5
    add_step: float = 0.05
    max_adds: int = 3
    trailing_stop: float = 0.1
    max_leverage: float = 3.0
    side: int = 1

    def __post_init__(self) -> None:
        _check_leverage("base_leverage", self.base_leverage)
        check_range("add_leverage", self.add_leverage, 0.0, MAX_LEVERAGE)
        check_range("add_step", self.add_step, 0.0, 10.0, lo_open=True)
        check_range("max_adds", self.max_adds, 0, 50)
        check_range("trailing_stop", self.trailing_stop, 0.0, 1.0, lo_open=True, hi_open=True)
        _check_leverage("max_leverage", self.max_leverage)
        check_side("side", self.side)


def pyramid_init(snap: Snapshot, p: PyramidParams) -> State:
    y = favourable(snap.prices, p.side)
    zero = np.zeros_like(y)
    return {"entry": y, "peak": y, "adds": zero, "stopped": zero}


def pyramid(snap: Snapshot, p: PyramidParams, state: State) -> tuple[FloatArray, State]:
    y = favourable(snap.prices, p.side)
    stopped = state["stopped"] > 0.0
    reenter = stopped & (y > state["peak"])
    entry = np.where(reenter, y, state["entry"])
    adds = np.where(reenter, 0.0, state["adds"])
    active = ~stopped | reenter
    peak = np.where(active, np.maximum(state["peak"], y), state["peak"])
    ladder = np.clip(np.floor((y / entry - 1.0) / p.add_step + _EPS), 0.0, p.max_adds)
    adds = np.where(active, np.maximum(adds, ladder), adds)
    stop_now = active & (y <= peak * (1.0 - p.trailing_stop))
    active = active & ~stop_now
    lev = np.where(active, p.base_leverage + adds * p.add_leverage, 0.0)
    new_state = {
        "entry": as_float_array(entry),
        "peak": as_float_array(peak),
        "adds": as_float_array(adds),
        "stopped": as_float_array(~active),
    }
    return _sleeves(snap, p.side, as_float_array(lev), p.max_leverage), new_state


# --- scaling out ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleOutParams:
    base_leverage: float = 2.0
    profit_targets: tuple[float, ...] = (0.1, 0.2, 0.3)
    fractions: tuple[float, ...] = (0.25, 0.25, 0.25)
    side: int = 1

    def __post_init__(self) -> None:
        _check_leverage("base_leverage", self.base_leverage)
        if not self.profit_targets or len(self.profit_targets) != len(self.fractions):
            raise ParamError(
                f"fractions: must have one value per profit target ({len(self.profit_targets)}), "
                f"got {len(self.fractions)}"
            )
        for g in self.profit_targets:
            check_range("profit_targets", g, 0.0, 100.0, lo_open=True)
        check_increasing("profit_targets", self.profit_targets)
        for f in self.fractions:
            check_range("fractions", f, 0.0, 1.0, lo_open=True)
        check_range("fractions (sum)", sum(self.fractions), 0.0, 1.0 + 1e-12)
        check_side("side", self.side)


def scale_out_init(snap: Snapshot, p: ScaleOutParams) -> State:
    y = favourable(snap.prices, p.side)
    return {"entry": y, "hit": np.zeros_like(y)}


def scale_out(snap: Snapshot, p: ScaleOutParams, state: State) -> tuple[FloatArray, State]:
    y = favourable(snap.prices, p.side)
    gain = y / state["entry"] - 1.0
    targets = np.asarray(p.profit_targets)
    hit_now = (gain[..., None] >= targets - _EPS).sum(axis=-1)
    hit = np.maximum(state["hit"], hit_now)
    rearm = (hit > 0) & (gain <= 0.0)
    hit = np.where(rearm, 0.0, hit)
    entry = np.where(rearm, y, state["entry"])
    remaining = 1.0 - np.concatenate(([0.0], np.cumsum(p.fractions)))
    kept = np.maximum(remaining[hit.astype(np.intp)], 0.0)
    target = p.side * equal_weights(snap) * p.base_leverage * kept
    return as_float_array(target), {"entry": as_float_array(entry), "hit": as_float_array(hit)}


# --- mean reversion -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeanReversionParams:
    unit_leverage: float = 0.5
    z_entry: float = 1.0
    z_step: float = 0.5
    max_leverage: float = 2.0
    long_only: bool = False

    def __post_init__(self) -> None:
        _check_leverage("unit_leverage", self.unit_leverage)
        check_range("z_entry", self.z_entry, 0.0, 10.0)
        check_range("z_step", self.z_step, 0.0, 10.0, lo_open=True)
        _check_leverage("max_leverage", self.max_leverage)


def mean_reversion(snap: Snapshot, p: MeanReversionParams, state: State) -> tuple[FloatArray, State]:
    z = snap.est.zscore
    az = np.abs(z)
    levels = np.where(az >= p.z_entry - _EPS, 1.0 + np.floor((az - p.z_entry) / p.z_step + _EPS), 0.0)
    target = -np.sign(z) * np.minimum(p.max_leverage, p.unit_leverage * levels)
    if p.long_only:
        target = np.maximum(target, 0.0)
    return scale_gross(as_float_array(target), p.max_leverage), state


# --- martingale (DANGEROUS) -----------------------------------------------------------------------

MARTINGALE_WARNING = (
    "martingale_DANGEROUS doubles exposure while the price moves against the vault; one long adverse move "
    "at the cap can liquidate the vault. Use only for research, with hard caps."
)


@dataclass(frozen=True)
class MartingaleParams:
    """DANGEROUS. Hard caps are part of the type: at most 6 doublings and 10x leverage."""

    base_leverage: float = 0.5
    step: float = 0.05
    max_doublings: int = 3
    max_leverage: float = 3.0
    side: int = 1

    def __post_init__(self) -> None:
        check_range("base_leverage", self.base_leverage, 0.0, 5.0, lo_open=True)
        check_range("step", self.step, 0.0, 1.0, lo_open=True, hi_open=True)
        check_range("max_doublings", self.max_doublings, 0, 6)
        check_range("max_leverage", self.max_leverage, 0.0, 10.0, lo_open=True)
        check_side("side", self.side)
        warnings.warn(MARTINGALE_WARNING, DangerousStrategyWarning, stacklevel=3)


def martingale_init(snap: Snapshot, p: MartingaleParams) -> State:
    y = favourable(snap.prices, p.side)
    return {"ref": y, "doublings": np.zeros_like(y)}


def martingale_dangerous(snap: Snapshot, p: MartingaleParams, state: State) -> tuple[FloatArray, State]:
    y = favourable(snap.prices, p.side)
    ref = state["ref"]
    recovered = y >= ref
    drop = np.clip(np.floor((1.0 - y / ref) / p.step + _EPS), 0.0, p.max_doublings)
    k = np.where(recovered, 0.0, np.maximum(state["doublings"], drop))
    ref = np.where(recovered, y, ref)
    lev = p.base_leverage * np.exp2(k)
    new_state = {"ref": as_float_array(ref), "doublings": as_float_array(k)}
    return _sleeves(snap, p.side, as_float_array(lev), p.max_leverage), new_state


# --- recursive feedback ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackParams:
    base_leverage: float = 2.0
    gain: float = 2.0
    min_scale: float = 0.25
    max_scale: float = 1.5
    drawdown_limit: float = 0.3
    max_leverage: float = 3.0
    side: int = 1

    def __post_init__(self) -> None:
        _check_leverage("base_leverage", self.base_leverage)
        check_range("gain", self.gain, 0.0, 100.0)
        check_range("min_scale", self.min_scale, 0.0, 1.0, lo_open=True)
        check_range("max_scale", self.max_scale, 1.0, 100.0)
        check_range("drawdown_limit", self.drawdown_limit, 0.0, 1.0, lo_open=True)
        _check_leverage("max_leverage", self.max_leverage)
        check_side("side", self.side)


def feedback_init(snap: Snapshot, p: FeedbackParams) -> State:
    return {"scale": np.ones(snap.n), "last_equity": snap.equity.copy()}


def feedback(snap: Snapshot, p: FeedbackParams, state: State) -> tuple[FloatArray, State]:
    last = state["last_equity"]
    ok = solvent(snap) & (last > 0.0)
    ret = np.where(ok, snap.equity / np.where(ok, last, 1.0) - 1.0, 0.0)
    scale = np.clip(state["scale"] * np.exp(p.gain * ret), p.min_scale, p.max_scale)
    peak = np.where(snap.peak_equity > 0.0, snap.peak_equity, 1.0)
    drawdown = np.where(ok, 1.0 - snap.equity / peak, 1.0)
    damp = np.clip(1.0 - drawdown / p.drawdown_limit, 0.0, 1.0)
    lev = (p.base_leverage * scale * damp)[:, None]
    new_state = {"scale": as_float_array(scale), "last_equity": snap.equity.copy()}
    return _sleeves(snap, p.side, as_float_array(lev), p.max_leverage), new_state


# --- trend strength -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendParams:
    max_leverage: float = 2.0
    sensitivity: float = 1.0
    dead_zone: float = 0.0
    long_only: bool = False

    def __post_init__(self) -> None:
        _check_leverage("max_leverage", self.max_leverage)
        check_range("sensitivity", self.sensitivity, 0.0, 100.0, lo_open=True)
        check_range("dead_zone", self.dead_zone, 0.0, 10.0)


def trend_strength(snap: Snapshot, p: TrendParams, state: State) -> tuple[FloatArray, State]:
    s = snap.est.trend
    shrunk = np.sign(s) * np.maximum(np.abs(s) - p.dead_zone, 0.0)
    target = p.max_leverage * equal_weights(snap) * np.tanh(p.sensitivity * shrunk)
    if p.long_only:
        target = np.maximum(target, 0.0)
    return as_float_array(target), state
