"""Black-Scholes Greeks, the scipy-free normal cdf, and the Whalley-Wilmott delta-hedging band."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.strategies import (
    STRATEGIES,
    DeltaHedgeParams,
    OptionBook,
    ParamError,
    Snapshot,
    band_rebalance,
    bs_greeks,
    make_snapshot,
    whalley_wilmott_half_width,
)
from keeper.strategies.base import SECONDS_PER_YEAR
from keeper.strategies.normal import erfc, norm_cdf


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _reference(s: float, k: float, t: float, v: float, r: float, q: float) -> dict[str, float]:
    """Scalar textbook formulas with math.erfc, independent of the vectorised code."""
    d1 = (math.log(s / k) + (r - q + v * v / 2) * t) / (v * math.sqrt(t))
    d2 = d1 - v * math.sqrt(t)
    pdf = math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi)
    return {
        "call": s * math.exp(-q * t) * _phi(d1) - k * math.exp(-r * t) * _phi(d2),
        "put": k * math.exp(-r * t) * _phi(-d2) - s * math.exp(-q * t) * _phi(-d1),
        "delta_call": math.exp(-q * t) * _phi(d1),
        "gamma": math.exp(-q * t) * pdf / (s * v * math.sqrt(t)),
        "vega": s * math.exp(-q * t) * pdf * math.sqrt(t),
        "theta_call": -s * math.exp(-q * t) * pdf * v / (2 * math.sqrt(t))
        - r * k * math.exp(-r * t) * _phi(d2)
        + q * s * math.exp(-q * t) * _phi(d1),
    }


def test_erfc_matches_math_erfc_absolute_and_relative() -> None:
    x = np.linspace(-9.0, 27.0, 20_001)
    ref = np.array([math.erfc(v) for v in x])
    got = erfc(x)
    assert np.max(np.abs(got - ref)) < 2e-15
    tail = ref > 1e-300
    assert np.max(np.abs(got[tail] - ref[tail]) / ref[tail]) < 1e-12


def test_norm_cdf_accuracy_and_symmetry() -> None:
    x = np.linspace(-12.0, 12.0, 4_801)
    ref = np.array([_phi(v) for v in x])
    assert np.max(np.abs(norm_cdf(x) - ref)) < 1e-15
    np.testing.assert_allclose(norm_cdf(x) + norm_cdf(-x), 1.0, atol=1e-15)
    assert norm_cdf(0.0) == pytest.approx(0.5, abs=1e-16)
    assert np.isnan(norm_cdf(np.nan))


def test_textbook_values() -> None:
    # Hull, Options Futures and Other Derivatives, example 15.6: S=42, K=40, r=10 %, vol=20 %, T=0.5
    g = bs_greeks(42.0, 40.0, 0.5, 0.2, 0.1, 0.0, np.array([True, False]))
    assert g.price[0] == pytest.approx(4.7594, abs=1e-4)
    assert g.price[1] == pytest.approx(0.8086, abs=1e-4)
    # the common at-the-money case S=K=100, T=1, r=5 %, vol=20 %
    atm = bs_greeks(100.0, 100.0, 1.0, 0.2, 0.05)
    assert float(atm.price) == pytest.approx(10.450583572185565, rel=1e-12)
    assert float(atm.delta) == pytest.approx(0.6368306511756191, rel=1e-12)


def test_matches_scalar_closed_forms_on_random_inputs() -> None:
    rng = np.random.default_rng(5)
    n = 200
    s = rng.uniform(20, 200, n)
    k = rng.uniform(20, 200, n)
    t = rng.uniform(0.01, 3, n)
    v = rng.uniform(0.05, 2, n)
    r = rng.uniform(-0.02, 0.1, n)
    q = rng.uniform(-0.05, 0.1, n)
    call = bs_greeks(s, k, t, v, r, q, True)
    put = bs_greeks(s, k, t, v, r, q, False)
    for i in range(n):
        ref = _reference(s[i], k[i], t[i], v[i], r[i], q[i])
        assert call.price[i] == pytest.approx(ref["call"], rel=1e-11, abs=1e-11)
        assert put.price[i] == pytest.approx(ref["put"], rel=1e-11, abs=1e-11)
        assert call.delta[i] == pytest.approx(ref["delta_call"], rel=1e-11, abs=1e-13)
        assert call.gamma[i] == pytest.approx(ref["gamma"], rel=1e-11, abs=1e-15)
        assert call.vega[i] == pytest.approx(ref["vega"], rel=1e-11, abs=1e-13)
        assert call.theta[i] == pytest.approx(ref["theta_call"], rel=1e-11, abs=1e-11)
    # gamma and vega do not depend on the kind; put delta = call delta - e^{-qT}
    np.testing.assert_allclose(put.gamma, call.gamma, rtol=1e-12)
    np.testing.assert_allclose(put.vega, call.vega, rtol=1e-12)
    np.testing.assert_allclose(put.delta, call.delta - np.exp(-q * t), atol=1e-14)


@settings(max_examples=200, deadline=None)
@given(
    s=st.floats(1.0, 1e5),
    moneyness=st.floats(0.2, 5.0),
    t=st.floats(1e-3, 5.0),
    v=st.floats(0.01, 3.0),
    r=st.floats(-0.05, 0.2),
    q=st.floats(-0.2, 0.2),
)
def test_put_call_parity(s: float, moneyness: float, t: float, v: float, r: float, q: float) -> None:
    k = s * moneyness
    g = bs_greeks(s, k, t, v, r, q, np.array([True, False]))
    forward_gap = s * math.exp(-q * t) - k * math.exp(-r * t)
    assert g.price[0] - g.price[1] == pytest.approx(forward_gap, abs=1e-9 * max(s, k))
    assert g.delta[0] - g.delta[1] == pytest.approx(math.exp(-q * t), abs=1e-12)
    assert g.theta[0] - g.theta[1] == pytest.approx(
        q * s * math.exp(-q * t) - r * k * math.exp(-r * t), abs=1e-9 * max(s, k)
    )
    assert g.price.min() >= -1e-9 * max(s, k)


@pytest.mark.parametrize("is_call", [True, False])
def test_finite_differences(is_call: bool) -> None:
    s, k, t, v, r, q = 105.0, 100.0, 0.75, 0.35, 0.03, 0.01

    def price(spot: float = s, vol: float = v, t: float = t) -> float:
        return float(bs_greeks(spot, k, t, vol, r, q, is_call).price)

    g = bs_greeks(s, k, t, v, r, q, is_call)
    h = 1e-3
    assert float(g.delta) == pytest.approx((price(spot=s + h) - price(spot=s - h)) / (2 * h), rel=1e-7)
    assert float(g.gamma) == pytest.approx(
        (price(spot=s + 0.1) - 2 * price() + price(spot=s - 0.1)) / 0.01, rel=1e-5
    )
    assert float(g.vega) == pytest.approx((price(vol=v + 1e-4) - price(vol=v - 1e-4)) / 2e-4, rel=1e-7)
    # theta is minus the derivative in time to expiry
    assert float(g.theta) == pytest.approx(-(price(t=t + h) - price(t=t - h)) / (2 * h), rel=1e-6)


def test_degenerate_inputs_take_their_limits() -> None:
    spot = np.array([90.0, 110.0, 100.0])
    expired = bs_greeks(spot, 100.0, 0.0, 0.5, 0.05, 0.0, True)
    np.testing.assert_allclose(expired.price, [0.0, 10.0, 0.0])
    np.testing.assert_allclose(expired.delta, [0.0, 1.0, 0.5])
    assert np.all(expired.gamma == 0.0) and np.all(expired.vega == 0.0)
    # zero vol: discounted forward intrinsic value
    t, r = 1.0, 0.05
    still = bs_greeks(spot, 100.0, t, 0.0, r, 0.0, False)
    fwd = spot * math.exp(r * t)
    np.testing.assert_allclose(still.price, np.maximum(100.0 - fwd, 0.0) * math.exp(-r * t), atol=1e-12)
    assert np.all(np.isfinite(still.theta)) and np.all(still.gamma == 0.0)
    # extreme moneyness stays finite and within bounds
    far = bs_greeks(np.array([1e-6, 1e9]), 100.0, 1.0, 0.8, 0.0, 0.0, True)
    assert np.all(np.isfinite(far.price)) and far.delta[0] == pytest.approx(0.0) and far.delta[1] == pytest.approx(1.0)


def test_vectorised_broadcasting() -> None:
    spots = np.linspace(50, 150, 10_000).reshape(100, 100)
    g = bs_greeks(spots, 100.0, 0.5, np.full((1, 100), 0.6), 0.0, 0.0, True)
    assert g.price.shape == g.theta.shape == (100, 100)
    assert np.all(np.diff(g.price, axis=1) > 0)  # calls increase with spot


def test_whalley_wilmott_band_scaling_law() -> None:
    base = whalley_wilmott_half_width(gamma=0.02, spot=100.0, cost=0.001, risk_aversion=0.5)
    expected = (1.5 * 0.001 * 100.0 * 0.02**2 / 0.5) ** (1 / 3)
    assert float(base) == pytest.approx(expected, rel=1e-12)
    # width ~ (cost * gamma^2 / risk aversion)^(1/3)
    assert float(whalley_wilmott_half_width(0.02, 100.0, 0.008, 0.5)) == pytest.approx(2 * float(base), rel=1e-12)
    assert float(whalley_wilmott_half_width(0.02, 100.0, 0.001, 4.0)) == pytest.approx(float(base) / 2, rel=1e-12)
    assert float(whalley_wilmott_half_width(0.0, 100.0, 0.001, 0.5)) == 0.0
    assert float(whalley_wilmott_half_width(0.02, 100.0, 0.0, 0.5)) == 0.0


def test_band_rebalance_keeps_inside_and_moves_to_edge() -> None:
    hedge = np.array([1.0, 3.0, -3.0, 2.4])
    center = np.full(4, 2.0)
    half = np.full(4, 0.5)
    np.testing.assert_allclose(band_rebalance(hedge, center, half), [1.5, 2.5, 1.5, 2.4])
    np.testing.assert_allclose(band_rebalance(hedge, center, half, to_edge=False), [2.0, 2.0, 2.0, 2.4])


def _hedge_snapshot(exposure: float, qty: float, cost: float = 0.001) -> tuple[Snapshot, float, float]:
    price, strike, equity = 100.0, 100.0, 10_000.0
    expiry = 0.5 * SECONDS_PER_YEAR
    book = OptionBook(
        qty=np.array([[qty]]), strike=np.array([[strike]]), expiry=np.array([[expiry]]), is_call=np.array([[True]])
    )
    snap = make_snapshot(
        np.array([price]), equity=equity, exposure=exposure, vol=0.6, taker_fee=cost, options=book, time=0.0
    )
    g = bs_greeks(price, strike, 0.5, 0.6, 0.0, 0.0, True)
    return snap, float(g.delta), float(g.gamma)


def test_delta_hedge_strategy() -> None:
    spec = STRATEGIES["delta_hedge"]
    p = DeltaHedgeParams(risk_aversion=1.0, use_implied=False)
    qty, price, equity = -100.0, 100.0, 10_000.0  # short 100 calls
    snap, delta, gamma = _hedge_snapshot(0.0, qty)
    target, _ = spec.fn(snap, p, {})
    center = -qty * delta
    half = float(whalley_wilmott_half_width(qty * gamma, price, 0.001, 1.0 / equity, 0.5))
    # flat is outside the band: move to the near edge
    assert float(target[0, 0]) == pytest.approx((center - half) * price / equity, rel=1e-10)
    # a hedge already inside the band is left alone
    inside = (center + 0.5 * half) * price / equity
    snap_in, _, _ = _hedge_snapshot(inside, qty)
    target_in, _ = spec.fn(snap_in, p, {})
    assert float(target_in[0, 0]) == pytest.approx(inside, rel=1e-12)
    # no option: no hedge
    snap0, _, _ = _hedge_snapshot(0.3, 0.0)
    assert float(spec.fn(snap0, p, {})[0][0, 0]) == 0.0


def test_delta_hedge_params_validation() -> None:
    with pytest.raises(ParamError, match=r"^risk_aversion: must be in \(0, 1e\+09\], got 0$"):
        DeltaHedgeParams(risk_aversion=0.0)
    with pytest.raises(ParamError, match="rebalance_to"):
        DeltaHedgeParams(rebalance_to="middle")
