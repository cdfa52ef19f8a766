"""The liquidation-avoidance overlay (every strategy passes it) and the online estimators."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper import market_math as mm
from keeper.strategies import STRATEGIES, FixedFractionParams, OverlayParams, ParamError, decide, make_snapshot
from keeper.strategies.base import SECONDS_PER_YEAR
from keeper.strategies.base import FloatArray
from keeper.strategies.estimators import (
    EstimatorConfig,
    EstimatorState,
    estimates,
    init_estimators,
    update_estimators,
)
from keeper.strategies.overlay import liquidation_overlay, overlay_factor


class Fees(NamedTuple):
    liquidation_fee_ratio: float
    min_keeper_fee: float
    max_keeper_fee: float


def _margin_after_shock(
    target: FloatArray, equity: float, kw: Fees, mmr: FloatArray, p: OverlayParams
) -> tuple[float, float]:
    """(equity, (1 + buffer) * maintenance) after the adverse shock, straight from the definition."""
    size = np.abs(target) * equity
    after = size * (1.0 - p.shock * np.sign(target))
    eq_after = equity - p.shock * size.sum()
    gross = after.sum()
    kf = min(max(gross * kw.liquidation_fee_ratio, kw.min_keeper_fee), kw.max_keeper_fee)
    req = (after * mmr).sum() + (kf if gross > 0 else 0.0)
    return eq_after, (1.0 + p.buffer) * req


@settings(max_examples=300, deadline=None)
@given(
    target=st.lists(st.floats(-15.0, 15.0), min_size=1, max_size=4),
    equity=st.floats(1.0, 1e7),
    mmr=st.floats(0.005, 0.4),
    shock=st.floats(0.0, 0.9),
    buffer=st.floats(0.0, 2.0),
    lfr=st.floats(0.0, 0.05),
    fees=st.tuples(st.floats(0.0, 1e4), st.floats(0.0, 1e4)),
)
def test_overlay_never_raises_exposure_and_always_leaves_the_buffer(
    target: list[float], equity: float, mmr: float, shock: float, buffer: float, lfr: float, fees: tuple[float, float]
) -> None:
    kw = Fees(lfr, min(fees), max(fees))
    x = np.array([target])
    snap = make_snapshot(np.ones((1, len(target))), equity=equity, maintenance_margin=mmr, **kw._asdict())
    p = OverlayParams(shock=shock, buffer=buffer)
    out = liquidation_overlay(x, snap, p)[0]
    k = float(overlay_factor(x, snap, p)[0])
    assert 0.0 <= k <= 1.0
    assert np.all(np.abs(out) <= np.abs(x[0]) + 1e-15)
    assert np.all(out * x[0] >= 0.0), "the overlay never flips a side"
    mmr_arr = np.full(len(target), mmr)
    if np.any(out != 0.0):
        eq, need = _margin_after_shock(out, equity, kw, mmr_arr, p)
        assert eq >= need - 1e-9 * equity
    if 0.0 < k < 1.0:  # tight: a little more exposure would break the buffer
        eq, need = _margin_after_shock(x[0] * k * (1 + 1e-6), equity, kw, mmr_arr, p)
        assert eq < need + 1e-9 * equity


def test_overlay_matches_market_math_margin_state() -> None:
    """Scale a 5x long with the overlay, then check the buffer with the market's own integer math."""
    equity, price, lev = 1_000.0, 2_000.0, 5.0
    snap = make_snapshot(
        np.array([price]), equity=equity, maintenance_margin=0.05,
        liquidation_fee_ratio=0.001, min_keeper_fee=5.0, max_keeper_fee=1_000.0,
    )
    p = OverlayParams(shock=0.2, buffer=0.25)
    k = float(overlay_factor(np.array([[lev]]), snap, p)[0])
    assert 0.0 < k < 1.0

    def state_after_shock(factor: float) -> mm.MarginState:
        size = int(factor * lev * equity / price * mm.WAD)
        shocked = int(price * (1 - p.shock) * mm.WAD)
        mark = mm.PositionMark(size, size * int(price), 0, shocked, int(0.1 * mm.WAD), int(0.05 * mm.WAD))
        return mm.margin_state(
            int(equity * 1e6), 10**12, [mark], int(0.001 * mm.WAD), int(5 * mm.WAD), int(1_000 * mm.WAD)
        )

    ok = state_after_shock(k * (1 - 1e-9))
    assert ok.equity >= 1.25 * ok.maintenance_requirement
    too_much = state_after_shock(k * (1 + 1e-6))
    assert too_much.equity < 1.25 * too_much.maintenance_requirement


def test_overlay_zero_equity_and_no_shock() -> None:
    snap = make_snapshot(np.ones((3, 1)), equity=[0.0, -1.0, 1.0], maintenance_margin=0.0)
    x = np.array([[2.0], [2.0], [2.0]])
    out = liquidation_overlay(x, snap, OverlayParams(shock=0.0, buffer=0.0))
    np.testing.assert_allclose(out[:, 0], [0.0, 0.0, 2.0])


def test_every_strategy_passes_the_overlay() -> None:
    """decide() scales a too-large target down to the overlay limit for any strategy."""
    snap = make_snapshot(np.ones(1), equity=1.0, maintenance_margin=0.05)
    spec = STRATEGIES["fixed_fraction"]
    p = OverlayParams(shock=0.2, buffer=0.25)
    target, _ = decide(spec, snap, FixedFractionParams(leverage=10.0), {}, p)
    # k = 1 / (s G + (1 + b) m G (1 - s)) with G = 10
    assert target[0, 0] == pytest.approx(10.0 / (0.2 * 10 + 1.25 * 0.05 * 10 * 0.8))
    small, _ = decide(spec, snap, FixedFractionParams(leverage=1.0), {}, p)
    assert small[0, 0] == 1.0


def test_overlay_params_validation() -> None:
    with pytest.raises(ParamError, match=r"^shock: must be in \[0, 1\), got 1$"):
        OverlayParams(shock=1.0)


# --- estimators -----------------------------------------------------------------------------------

HOUR = 3_600.0


def _feed(prices: FloatArray, cfg: EstimatorConfig, dt: float = HOUR) -> EstimatorState:
    st_ = init_estimators(prices[0], 0.0, cfg)
    for i in range(1, len(prices)):
        st_ = update_estimators(st_, prices[i], i * dt, cfg)
    return st_


def test_estimators_constant_price() -> None:
    cfg = EstimatorConfig()
    prices = np.full((500, 2, 1), 100.0)
    e = estimates(_feed(prices, cfg), cfg)
    prior = cfg.prior_vol
    decay = 0.5 ** (499 * HOUR / cfg.vol_halflife)
    np.testing.assert_allclose(e.vol, prior * math.sqrt(decay), rtol=1e-9)
    assert np.all(e.drift == 0.0) and np.all(e.trend == 0.0) and np.all(e.zscore == 0.0)


def test_estimators_recover_gbm_vol_and_correlation() -> None:
    rng = np.random.default_rng(11)
    cfg = EstimatorConfig(vol_halflife=30 * 86_400.0)
    n_steps, sigma, rho = 6_000, 0.5, 0.6
    dt = HOUR / SECONDS_PER_YEAR
    chol = np.linalg.cholesky(np.array([[1.0, rho], [rho, 1.0]]))
    z = rng.standard_normal((n_steps, 400, 2)) @ chol.T
    logp = np.concatenate([np.zeros((1, 400, 2)), np.cumsum(sigma * math.sqrt(dt) * z, axis=0)])
    e = estimates(_feed(np.exp(logp), cfg), cfg)
    assert float(e.vol.mean()) == pytest.approx(sigma, rel=0.03)
    corr = e.cov[:, 0, 1] / np.sqrt(e.cov[:, 0, 0] * e.cov[:, 1, 1])
    assert float(corr.mean()) == pytest.approx(rho, abs=0.03)
    alpha = 1 - 0.5 ** (HOUR / cfg.drift_halflife)
    w_sum = 1 - (1 - alpha) ** n_steps
    w2_sum = alpha**2 * (1 - (1 - alpha) ** (2 * n_steps)) / (1 - (1 - alpha) ** 2)
    assert float(e.n_eff[0]) == pytest.approx(w_sum**2 / w2_sum, rel=1e-6)


def test_estimators_trend_and_zscore_signs() -> None:
    cfg = EstimatorConfig()
    up = np.exp(np.linspace(0, 0.3, 200))[:, None, None] * 100.0
    e = estimates(_feed(up, cfg), cfg)
    assert e.trend[0, 0] > 0 and e.drift[0, 0] > 0 and e.zscore[0, 0] > 0
    down = up[::-1].copy()
    e2 = estimates(_feed(down, cfg), cfg)
    assert e2.trend[0, 0] < 0 and e2.drift[0, 0] < 0 and e2.zscore[0, 0] < 0


def test_estimators_handle_irregular_time() -> None:
    cfg = EstimatorConfig()
    p = np.array([[[100.0]], [[101.0]]])
    one = estimates(_feed(p, cfg, dt=HOUR), cfg)
    four = estimates(_feed(p, cfg, dt=4 * HOUR), cfg)
    # the same return over a longer time is less variance per year, and the weight is larger
    a1 = 1 - 0.5 ** (HOUR / cfg.vol_halflife)
    a4 = 1 - 0.5 ** (4 * HOUR / cfg.vol_halflife)
    r2 = 0.01**2
    prior = cfg.prior_vol**2
    assert float(one.vol[0, 0]) ** 2 == pytest.approx(prior + a1 * (r2 / (HOUR / SECONDS_PER_YEAR) - prior))
    assert float(four.vol[0, 0]) ** 2 == pytest.approx(prior + a4 * (r2 / (4 * HOUR / SECONDS_PER_YEAR) - prior))
