"""Liquidation-avoidance overlay: every strategy's target passes through it (keeper.strategies.decide).

It scales a vault's whole target row by one factor k in [0, 1] (never up, never changing the mix) so that
after an adverse move of every price by `shock` (longs fall by shock, shorts rise by shock) the vault still
has equity >= (1 + buffer) * maintenance requirement, the requirement computed as the market does
(keeper.market_math.margin_state): sum_j m_j |notional_j| + clamp(lfr * gross, min_keeper_fee, max_keeper_fee).

Per unit of equity E, for target leverages x_j (G = sum |x_j|) and s = shock, b = buffer:
    equity after the shock       E (1 - k s G)
    notional after the shock     k E g,   g = sum_j |x_j| (1 - s sign x_j)
    maintenance part             k E M,   M = sum_j m_j |x_j| (1 - s sign x_j)
    requirement f(k) = E (1 - k s G) - (1 + b) (k E M + clamp(k E g lfr, kf_min, kf_max)) >= 0
With A = s G + (1 + b) M the admissible set is [0, k*] where
    k_min = (1 - (1 + b) kf_min / E) / A        (keeper fee at its floor)
    k_lin = 1 / (A + (1 + b) g lfr)              (keeper fee proportional)
    k_max = (1 - (1 + b) kf_max / E) / A        (keeper fee at its cap)
    k*    = max(min(k_min, k_lin), k_max),        k = clip(k*, 0, 1)
which is exact for the clamped fee (f is decreasing in k). Zero or negative equity gives k = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keeper.strategies.base import FloatArray, Snapshot, as_float_array, check_range, solvent


@dataclass(frozen=True)
class OverlayParams:
    shock: float = 0.2  # adverse fractional price move to survive
    buffer: float = 0.25  # equity must stay >= (1 + buffer) * maintenance requirement after the shock

    def __post_init__(self) -> None:
        check_range("shock", self.shock, 0.0, 1.0, hi_open=True)
        check_range("buffer", self.buffer, 0.0, 100.0)


def overlay_factor(target: FloatArray, snap: Snapshot, p: OverlayParams) -> FloatArray:
    """The factor k (n,) in [0, 1] described in the module docstring."""
    m = snap.market
    s, b = p.shock, p.buffer
    size = np.abs(target)
    after = size * (1.0 - s * np.sign(target))
    gross = size.sum(axis=1)
    g_after = after.sum(axis=1)
    mm_after = (after * m.maintenance_margin).sum(axis=1)
    a = np.maximum(s * gross + (1.0 + b) * mm_after, 1e-300)  # 0 only for an empty row
    ok = solvent(snap)
    eq = np.where(ok, snap.equity, 1.0)
    k_min = (1.0 - (1.0 + b) * m.min_keeper_fee / eq) / a
    k_lin = 1.0 / (a + (1.0 + b) * g_after * m.liquidation_fee_ratio)
    k_max = (1.0 - (1.0 + b) * m.max_keeper_fee / eq) / a
    k = np.where(ok, np.clip(np.maximum(np.minimum(k_min, k_lin), k_max), 0.0, 1.0), 0.0)
    return as_float_array(k)


def liquidation_overlay(target: FloatArray, snap: Snapshot, p: OverlayParams) -> FloatArray:
    return as_float_array(target * overlay_factor(target, snap, p)[:, None])
