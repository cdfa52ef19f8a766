"""Multi-asset allocation from the covariance matrix Sigma (annualised, per vault).

inverse_variance:  w_j = (1 / Sigma_jj) / sum_k (1 / Sigma_kk)             (ignores correlations)
risk_parity:       equal (or budgeted, b_j) risk contributions w_j (Sigma w)_j = b_j * w' Sigma w,
                   found by cyclic coordinate descent on  min 1/2 x' Sigma x - sum_j b_j ln x_j
                   (its optimum has x_j (Sigma x)_j = b_j), one coordinate at a time in closed form
                       x_j = (-c_j + sqrt(c_j^2 + 4 Sigma_jj b_j)) / (2 Sigma_jj),   c_j = (Sigma x)_j - Sigma_jj x_j
                   then w = x / sum x. Correlated assets share one risk budget, so they get less weight
                   than the same assets uncorrelated would.
Gross leverage:    G = leverage, or with target_vol > 0, G = min(max_leverage, target_vol / sqrt(w' Sigma w));
                   target_j = side * G * w_j.
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
)
from keeper.strategies.sizing import MAX_LEVERAGE

_VAR_FLOOR = 1e-12


@dataclass(frozen=True)
class AllocationParams:
    leverage: float = 1.0
    target_vol: float = 0.0  # 0 = use `leverage`
    max_leverage: float = 3.0
    side: int = 1

    def __post_init__(self) -> None:
        check_range("leverage", self.leverage, 0.0, MAX_LEVERAGE, lo_open=True)
        check_range("target_vol", self.target_vol, 0.0, 5.0)
        check_range("max_leverage", self.max_leverage, 0.0, MAX_LEVERAGE, lo_open=True)
        check_side("side", self.side)


@dataclass(frozen=True)
class RiskParityParams(AllocationParams):
    iterations: int = 15  # sweeps; 3 assets converge to ~1e-12, 8 assets to ~1e-9 (tests check)
    budgets: tuple[float, ...] = ()  # risk budgets, equal when empty

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("iterations", self.iterations, 1, 10_000)
        for b in self.budgets:
            check_range("budgets", b, 0.0, 1e9, lo_open=True)


def _gross(cov: FloatArray, w: FloatArray, p: AllocationParams) -> FloatArray:
    if p.target_vol <= 0.0:
        return np.full(w.shape[0], p.leverage)
    port_var = np.einsum("ni,nij,nj->n", w, cov, w)
    vol = np.sqrt(np.maximum(port_var, _VAR_FLOOR))
    return as_float_array(np.minimum(p.max_leverage, p.target_vol / vol))


def _finish(cov: FloatArray, w: FloatArray, p: AllocationParams) -> FloatArray:
    return as_float_array(p.side * _gross(cov, w, p)[:, None] * w)


def inverse_variance_weights(cov: FloatArray) -> FloatArray:
    inv = 1.0 / np.maximum(np.diagonal(cov, axis1=1, axis2=2), _VAR_FLOOR)
    return as_float_array(inv / inv.sum(axis=1, keepdims=True))


def risk_parity_weights(cov: FloatArray, budgets: FloatArray, iterations: int) -> FloatArray:
    """Equal-risk-contribution weights for a stack of covariance matrices (n, a, a)."""
    diag = np.maximum(np.diagonal(cov, axis1=1, axis2=2), _VAR_FLOOR)
    # Scale so the diagonal is about 1: the fixed number of sweeps then means the same everywhere.
    norm = diag.mean(axis=1)
    c = cov / norm[:, None, None]
    d = diag / norm[:, None]
    b = np.broadcast_to(budgets / budgets.sum(), d.shape)
    # asset-major copies, so that every per-coordinate vector below is contiguous
    ct = np.ascontiguousarray(c.transpose(2, 1, 0))  # ct[j, i, n] = Sigma_ij of vault n
    dt = np.ascontiguousarray(d.T)
    x = 1.0 / np.sqrt(dt)
    sx = np.einsum("jin,jn->in", ct, x)  # Sigma x, kept current as coordinates change
    four_db = 4.0 * dt * np.ascontiguousarray(b.T)
    two_d = 2.0 * dt
    for _ in range(iterations):
        for j in range(cov.shape[1]):
            cj = sx[j] - dt[j] * x[j]
            new = (np.sqrt(cj * cj + four_db[j]) - cj) / two_d[j]
            sx += (new - x[j]) * ct[j]
            x[j] = new
    return as_float_array((x / x.sum(axis=0)).T)


def inverse_variance(snap: Snapshot, p: AllocationParams, state: State) -> tuple[FloatArray, State]:
    cov = snap.est.cov
    return _finish(cov, inverse_variance_weights(cov), p), state


def risk_parity(snap: Snapshot, p: RiskParityParams, state: State) -> tuple[FloatArray, State]:
    cov = snap.est.cov
    if p.budgets and len(p.budgets) != snap.assets:
        raise StrategyError(f"budgets: expected {snap.assets} values (one per asset), got {len(p.budgets)}")
    budgets = np.asarray(p.budgets, dtype=np.float64) if p.budgets else np.ones(snap.assets)
    return _finish(cov, risk_parity_weights(cov, budgets, p.iterations), p), state
