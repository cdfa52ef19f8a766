"""Strategy formulas on hand-computed cases, edge cases, the registry and parameter validation."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.strategies import (
    STRATEGIES,
    DangerousStrategyWarning,
    FeedbackParams,
    FixedFractionParams,
    ImpliedVolTargetParams,
    KellyParams,
    LeverageBandParams,
    MartingaleParams,
    MeanReversionParams,
    OverlayParams,
    ParamError,
    PyramidParams,
    ScaleOutParams,
    Snapshot,
    StrategyError,
    TrendParams,
    VolTargetParams,
    decide,
    get_strategy,
    make_snapshot,
    parse_params,
    recenter,
)
from keeper.strategies.base import FloatArray, State, as_float_array


def _default_params(name: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DangerousStrategyWarning)
        return STRATEGIES[name].params()


def _run(name: str, snap: Snapshot, params: Any = None, state: State | None = None) -> tuple[FloatArray, State]:
    spec = STRATEGIES[name]
    p = params if params is not None else _default_params(name)
    st_ = state if state is not None else spec.init_state(snap, p)
    return spec.fn(snap, p, st_)


def _walk(name: str, params: Any, prices: list[float], **snap_kw: Any) -> list[float]:
    """Run a path-dependent strategy along a single-asset price path; returns the targets."""
    spec = STRATEGIES[name]
    snap = make_snapshot(np.array([prices[0]]), **snap_kw)
    state = spec.init_state(snap, params)
    out = []
    for p in prices:
        target, state = spec.fn(make_snapshot(np.array([p]), **snap_kw), params, state)
        out.append(float(target[0, 0]))
    return out


# --- registry and validation ----------------------------------------------------------------------

OPTIONLESS = [n for n, s in STRATEGIES.items() if "options" not in s.needs]


def test_registry_names_and_specs() -> None:
    assert {
        "fixed_fraction",
        "leverage_band",
        "vol_target",
        "vol_target_implied",
        "kelly",
        "pyramid",
        "scale_out",
        "mean_reversion",
        "martingale_DANGEROUS",
        "feedback",
        "trend_strength",
        "inverse_variance",
        "risk_parity",
        "delta_hedge",
    } <= set(STRATEGIES)
    assert [n for n, s in STRATEGIES.items() if s.dangerous] == ["martingale_DANGEROUS"]
    with pytest.raises(StrategyError, match="unknown name 'nope'"):
        get_strategy("nope")


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (LeverageBandParams, {"target_leverage": 25}, "target_leverage: must be in (0, 20], got 25"),
        (LeverageBandParams, {"min_leverage": 2.5}, "min_leverage: must be in [0, 2], got 2.5"),
        (LeverageBandParams, {"recenter_speed": 0.0}, "recenter_speed: must be in (0, 1], got 0"),
        (VolTargetParams, {"side": 0}, "side: must be 1 (long) or -1 (short), got 0"),
        (KellyParams, {"fraction": 1.5}, "fraction: must be in (0, 1], got 1.5"),
        (PyramidParams, {"trailing_stop": 1.0}, "trailing_stop: must be in (0, 1), got 1"),
        (ScaleOutParams, {"profit_targets": (0.2, 0.1), "fractions": (0.5, 0.5)}, "profit_targets: must be strictly"),
        (MartingaleParams, {"max_doublings": 7}, "max_doublings: must be in [0, 6], got 7"),
        (MeanReversionParams, {"z_step": -1.0}, "z_step: must be in (0, 10], got -1"),
    ],
)
def test_bad_params_name_field_and_range(cls: type, kwargs: dict[str, Any], message: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DangerousStrategyWarning)
        with pytest.raises(ParamError) as err:
            cls(**kwargs)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)
    assert isinstance(err.value, ValueError)


def test_parse_params_from_text() -> None:
    p = parse_params(ScaleOutParams, ["base_leverage=1.5", "profit_targets=0.1,0.3", "fractions=0.5,0.5", "side=-1"])
    assert p == ScaleOutParams(base_leverage=1.5, profit_targets=(0.1, 0.3), fractions=(0.5, 0.5), side=-1)
    assert parse_params(KellyParams, ["long_only=yes"]).long_only is True
    with pytest.raises(ParamError, match=r"^speed: unknown parameter of LeverageBandParams \(accepted: target_lev"):
        parse_params(LeverageBandParams, ["speed=0.1"])
    with pytest.raises(ParamError, match=r"^target_leverage: expected a number, got 'two'$"):
        parse_params(LeverageBandParams, ["target_leverage=two"])
    with pytest.raises(ParamError, match=r"^target_leverage: must be in \(0, 20\], got 25$"):
        parse_params(LeverageBandParams, {"target_leverage": "25"})


def test_martingale_is_marked_dangerous() -> None:
    with pytest.warns(DangerousStrategyWarning, match="DANGEROUS"):
        MartingaleParams()
    assert STRATEGIES["martingale_DANGEROUS"].dangerous
    assert "DANGEROUS" in STRATEGIES["martingale_DANGEROUS"].summary


# --- vectorisation and edge cases shared by all strategies ---------------------------------------


def _rich_snapshot(n: int, a: int, seed: int = 0) -> Snapshot:
    rng = np.random.default_rng(seed)
    prices = rng.uniform(10, 1000, (n, a))
    corr = 0.3
    cov_one = (np.full((a, a), corr) + (1 - corr) * np.eye(a)) * 0.64
    return make_snapshot(
        prices,
        equity=rng.uniform(0.5, 2.0, n),
        exposure=rng.uniform(-1, 1, (n, a)),
        vol=rng.uniform(0.2, 1.2, (n, a)),
        drift=rng.normal(0, 0.5, (n, a)),
        n_eff=rng.uniform(0, 1000, n),
        cov=cov_one,
        trend=rng.normal(0, 1, (n, a)),
        zscore=rng.normal(0, 2, (n, a)),
        implied_vol=rng.uniform(0.2, 1.2, (n, a)),
        liquidation_fee_ratio=0.001,
        min_keeper_fee=0.001,
        max_keeper_fee=0.01,
    )


def _row(snap: Snapshot, i: int) -> Snapshot:
    sl = slice(i, i + 1)
    est = snap.est
    return make_snapshot(
        snap.prices[sl],
        equity=snap.equity[sl],
        exposure=snap.exposure[sl],
        vol=est.vol[sl],
        drift=est.drift[sl],
        n_eff=est.n_eff[sl],
        cov=est.cov[sl],
        trend=est.trend[sl],
        zscore=est.zscore[sl],
        implied_vol=None if snap.implied_vol is None else snap.implied_vol[sl],
        liquidation_fee_ratio=snap.market.liquidation_fee_ratio,
        min_keeper_fee=snap.market.min_keeper_fee,
        max_keeper_fee=snap.market.max_keeper_fee,
    )


@pytest.mark.parametrize("name", OPTIONLESS)
def test_one_call_decides_many_vaults_like_one_at_a_time(name: str) -> None:
    snap = _rich_snapshot(64, 3)
    spec = STRATEGIES[name]
    p = _default_params(name)
    overlay = OverlayParams()
    batch, _ = decide(spec, snap, p, spec.init_state(snap, p), overlay)
    assert batch.shape == (64, 3) and np.all(np.isfinite(batch))
    for i in (0, 17, 63):
        one = _row(snap, i)
        single, _ = decide(spec, one, p, spec.init_state(one, p), overlay)
        np.testing.assert_allclose(single[0], batch[i], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", OPTIONLESS)
def test_zero_negative_equity_and_extreme_prices(name: str) -> None:
    prices = np.array([[1e-9, 50.0], [1e12, 3.0], [100.0, 100.0], [100.0, 100.0]])
    snap = make_snapshot(
        prices, equity=[1.0, 1.0, 0.0, -3.0], exposure=0.4, vol=[[0.0, 5.0]], implied_vol=0.0, trend=30.0, zscore=-50.0
    )
    spec = STRATEGIES[name]
    p = _default_params(name)
    target, state = decide(spec, snap, p, spec.init_state(snap, p), OverlayParams())
    assert np.all(np.isfinite(target))
    assert np.all(target[2:] == 0.0), "no exposure without equity"
    for v in state.values():
        assert np.all(np.isfinite(v) | np.isnan(v))


# --- sizing ---------------------------------------------------------------------------------------


def test_fixed_fraction() -> None:
    snap = make_snapshot(np.array([[10.0, 20.0]]))
    t, _ = _run("fixed_fraction", snap, FixedFractionParams(leverage=1.5, weights=(1.0, 3.0)))
    np.testing.assert_allclose(t, [[0.375, 1.125]])
    t, _ = _run("fixed_fraction", snap, FixedFractionParams(leverage=2.0, side=-1))
    np.testing.assert_allclose(t, [[-1.0, -1.0]])
    with pytest.raises(StrategyError, match="weights: expected 2 values"):
        _run("fixed_fraction", snap, FixedFractionParams(weights=(1.0, 1.0, 1.0)))


def test_recenter_formula_direction() -> None:
    slow = LeverageBandParams(recenter_speed=0.05)
    fast = LeverageBandParams(recenter_speed=0.8)
    lev = np.array([2.5, 1.0, 3.0, 1.69])
    # L' = max(min, min(max, L (1 - speed) + target speed))
    np.testing.assert_allclose(recenter(lev, slow), [2.3, 1.7, 2.3, 1.7055])
    np.testing.assert_allclose(recenter(lev, fast), [2.1, 1.8, 2.2, 1.938])


@settings(max_examples=200, deadline=None)
@given(lev=st.floats(0.01, 20.0), speed=st.floats(0.01, 1.0))
def test_recenter_moves_toward_target_and_stays_in_band(lev: float, speed: float) -> None:
    p = LeverageBandParams(recenter_speed=speed)
    new = float(recenter(np.array([lev]), p)[0])
    assert p.min_leverage - 1e-12 <= new <= p.max_leverage + 1e-12
    assert abs(new - p.target_leverage) <= abs(lev - p.target_leverage) + 1e-12
    assert (new - lev) * (p.target_leverage - lev) >= -1e-12  # never moves away from the target


def test_leverage_band_strategy() -> None:
    p = LeverageBandParams(recenter_speed=0.5)
    exposure = np.array([[1.5, 1.5], [-0.5, 0.4], [1.0, -0.9], [0.0, 0.0]])
    snap = make_snapshot(np.full((4, 2), 100.0), exposure=exposure)
    t, _ = _run("leverage_band", snap, p)
    # row 0: L = 3 -> 3 * 0.5 + 1 = 2.5 -> clipped 2.3, mix kept
    np.testing.assert_allclose(t[0], [1.15, 1.15])
    # row 1: L = 0.9 -> 1.45 -> 1.7, signs kept
    np.testing.assert_allclose(t[1], np.array([-0.5, 0.4]) * 1.7 / 0.9)
    # row 2: L = 1.9 inside the band: unchanged
    np.testing.assert_allclose(t[2], [1.0, -0.9])
    # row 3: flat engages at the target
    np.testing.assert_allclose(t[3], [1.0, 1.0])


def test_vol_target() -> None:
    snap = make_snapshot(np.array([[1.0, 1.0], [1.0, 1.0]]), vol=[[0.25, 1.0], [0.0, 0.5]])
    t, _ = _run("vol_target", snap, VolTargetParams(target_vol=0.5, max_leverage=3.0, min_vol=0.05))
    # sleeves 0.5 * min(3, 0.5 / vol)
    np.testing.assert_allclose(t[0], [1.0, 0.25])
    # zero vol is floored at min_vol: that sleeve hits its cap, 0.5 * min(3, 0.5 / 0.05)
    np.testing.assert_allclose(t[1], [1.5, 0.5])
    many = make_snapshot(np.ones((1, 4)), vol=0.01)
    t4, _ = _run("vol_target", many, VolTargetParams(target_vol=0.5, max_leverage=2.0))
    np.testing.assert_allclose(t4, [[0.5, 0.5, 0.5, 0.5]])  # every sleeve capped, then the gross cap binds


def test_vol_target_implied() -> None:
    snap = make_snapshot(np.array([1.0]), vol=0.25, implied_vol=0.5)
    def f(w: float) -> float:
        target, _ = _run("vol_target_implied", snap, ImpliedVolTargetParams(target_vol=0.5, implied_weight=w))
        return float(target[0, 0])

    assert f(1.0) == pytest.approx(1.0)
    assert f(0.0) == pytest.approx(2.0)
    assert f(0.5) == pytest.approx(0.5 / math.sqrt(0.5 * 0.25 + 0.5 * 0.0625))
    with pytest.raises(StrategyError, match="no implied_vol"):
        _run("vol_target_implied", make_snapshot(np.array([1.0])))


def test_kelly_shrinkage() -> None:
    p = KellyParams(fraction=0.5, prior_drift=0.0, prior_vol=0.8, prior_strength=500.0, max_leverage=10.0)
    snap = make_snapshot(np.array([1.0, 1.0, 1.0]), vol=0.8, drift=[0.4, 0.4, -0.4], n_eff=[500.0, 0.0, 1e9])
    t, _ = _run("kelly", snap, p)
    # n = n0: mu = 0.2, var = 0.64 -> 0.5 * 0.2 / 0.64
    assert t[0, 0] == pytest.approx(0.5 * 0.2 / 0.64)
    assert t[1, 0] == pytest.approx(0.0)  # no data: the prior (zero drift)
    assert t[2, 0] == pytest.approx(0.5 * -0.4 / 0.64, rel=1e-6)  # data dominates
    long_only = _run("kelly", snap, KellyParams(long_only=True, max_leverage=10.0))[0]
    assert long_only[2, 0] == 0.0
    sure_bet = make_snapshot(np.array([1.0]), vol=0.1, drift=5.0, n_eff=1e9)
    capped = _run("kelly", sure_bet, KellyParams(max_leverage=3.0))[0]
    assert capped[0, 0] == pytest.approx(3.0)


def test_kelly_uses_the_covariance() -> None:
    cov = np.array([[0.64, 0.4], [0.4, 0.36]])
    mu = np.array([0.3, 0.1])
    snap = make_snapshot(np.array([[1.0, 1.0]]), cov=cov, drift=mu, n_eff=1e12)
    t, _ = _run("kelly", snap, KellyParams(fraction=1.0, prior_strength=0.0, max_leverage=20.0))
    np.testing.assert_allclose(t[0], np.linalg.solve(cov, mu), rtol=1e-9)


# --- scaling --------------------------------------------------------------------------------------


def test_pyramid_adds_then_trailing_stop_then_reentry() -> None:
    p = PyramidParams(base_leverage=1.0, add_leverage=0.5, add_step=0.05, max_adds=3, trailing_stop=0.1)
    prices = [100.0, 105.0, 111.0, 104.0, 99.9, 105.0, 112.0, 140.0]
    expected = [1.0, 1.5, 2.0, 2.0, 0.0, 0.0, 1.0, 2.5]
    np.testing.assert_allclose(_walk("pyramid", p, prices), expected)


def test_pyramid_short_mirrors_long() -> None:
    p = PyramidParams(side=-1)
    prices = [100.0, 100 / 1.05, 100 / 1.11, 100 / 1.11 / 0.9]
    assert _walk("pyramid", p, prices) == pytest.approx([-1.0, -1.5, -2.0, 0.0])


def test_scale_out_tranches_and_rearm() -> None:
    p = ScaleOutParams(base_leverage=2.0, profit_targets=(0.1, 0.2, 0.3), fractions=(0.25, 0.25, 0.25))
    prices = [100.0, 105.0, 110.0, 121.0, 115.0, 100.0, 111.0]
    expected = [2.0, 2.0, 1.5, 1.0, 1.0, 2.0, 1.5]
    np.testing.assert_allclose(_walk("scale_out", p, prices), expected)


def test_mean_reversion_steps_and_caps() -> None:
    p = MeanReversionParams(unit_leverage=0.5, z_entry=1.0, z_step=0.5, max_leverage=2.0)
    snap = make_snapshot(np.ones(5), zscore=[1.7, -0.5, -1.0, 10.0, -2.2])
    t, _ = _run("mean_reversion", snap, p)
    np.testing.assert_allclose(t[:, 0], [-1.0, 0.0, 0.5, -2.0, 1.5])
    lo = _run("mean_reversion", snap, MeanReversionParams(long_only=True))[0]
    assert np.all(lo >= 0.0) and lo[0, 0] == 0.0


def test_martingale_doubles_with_hard_caps() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DangerousStrategyWarning)
        p = MartingaleParams(base_leverage=0.5, step=0.05, max_doublings=3, max_leverage=3.0)
    prices = [100.0, 94.0, 89.0, 80.0, 50.0, 100.0, 103.0, 97.0]
    expected = [0.5, 1.0, 2.0, 3.0, 3.0, 0.5, 0.5, 1.0]
    np.testing.assert_allclose(_walk("martingale_DANGEROUS", p, prices), expected)


def test_feedback_scaling() -> None:
    p = FeedbackParams(base_leverage=2.0, gain=2.0, min_scale=0.25, max_scale=1.5, drawdown_limit=0.3, max_leverage=3.0)
    spec = STRATEGIES["feedback"]
    snap = make_snapshot(np.array([1.0]), equity=1.0)
    state = spec.init_state(snap, p)
    t0, state = spec.fn(snap, p, state)
    assert t0[0, 0] == pytest.approx(2.0)
    t1, state = spec.fn(make_snapshot(np.array([1.0]), equity=1.1, peak_equity=1.1), p, state)
    assert t1[0, 0] == pytest.approx(2.0 * math.exp(0.2))
    t2, state = spec.fn(make_snapshot(np.array([1.0]), equity=0.88, peak_equity=1.1), p, state)
    scale = math.exp(0.2) * math.exp(2.0 * (0.88 / 1.1 - 1.0))
    assert t2[0, 0] == pytest.approx(2.0 * scale * (1.0 - 0.2 / 0.3))
    t3, _ = spec.fn(make_snapshot(np.array([1.0]), equity=0.7, peak_equity=1.1), p, state)
    assert t3[0, 0] == 0.0  # drawdown beyond the limit


def test_trend_strength() -> None:
    snap = make_snapshot(np.ones(4), trend=[0.5, -2.0, 0.2, 100.0])
    t, _ = _run("trend_strength", snap, TrendParams(max_leverage=2.0, sensitivity=1.0, dead_zone=0.25))
    np.testing.assert_allclose(t[:, 0], [2 * math.tanh(0.25), -2 * math.tanh(1.75), 0.0, 2 * math.tanh(99.75)])
    lo = _run("trend_strength", snap, TrendParams(long_only=True))[0]
    assert lo[1, 0] == 0.0


# --- allocation -----------------------------------------------------------------------------------


def _cov(vols: list[float], corr: FloatArray) -> FloatArray:
    v = np.asarray(vols)
    return as_float_array(corr * np.outer(v, v))


def _alloc(name: str, cov: FloatArray, **kw: Any) -> FloatArray:
    a = cov.shape[0]
    snap = make_snapshot(np.ones((1, a)), cov=cov)
    spec = STRATEGIES[name]
    target, _ = spec.fn(snap, spec.params(**kw), {})
    return as_float_array(target[0])


def test_risk_parity_sees_correlation_inverse_variance_does_not() -> None:
    uncorrelated = _cov([0.5, 0.5, 0.5], np.eye(3))
    corr = np.eye(3)
    corr[0, 1] = corr[1, 0] = 0.9
    correlated = _cov([0.5, 0.5, 0.5], corr)
    rp_u = _alloc("risk_parity", uncorrelated)
    rp_c = _alloc("risk_parity", correlated)
    np.testing.assert_allclose(rp_u, [1 / 3, 1 / 3, 1 / 3], atol=1e-12)
    assert rp_c[2] > rp_c[0] + 0.05  # the correlated pair shares one risk budget
    assert rp_c[0] == pytest.approx(rp_c[1])
    # equal risk contributions w_j (Sigma w)_j
    rc = rp_c * (correlated @ rp_c)
    np.testing.assert_allclose(rc, rc.mean(), rtol=1e-9)
    np.testing.assert_allclose(_alloc("inverse_variance", correlated), _alloc("inverse_variance", uncorrelated))


def test_risk_parity_uncorrelated_is_inverse_vol_and_budgets() -> None:
    cov = _cov([0.2, 0.4, 0.8], np.eye(3))
    w = _alloc("risk_parity", cov)
    inv_vol = np.array([1 / 0.2, 1 / 0.4, 1 / 0.8])
    np.testing.assert_allclose(w, inv_vol / inv_vol.sum(), rtol=1e-9)
    iv = _alloc("inverse_variance", cov)
    np.testing.assert_allclose(iv, np.array([25.0, 6.25, 1.5625]) / 32.8125)
    b = _alloc("risk_parity", cov, budgets=(2.0, 1.0, 1.0))
    rc = b * (cov @ b)
    np.testing.assert_allclose(rc / rc.sum(), [0.5, 0.25, 0.25], rtol=1e-9)


def test_allocation_vol_target_sets_gross() -> None:
    cov = _cov([0.5, 0.5], np.array([[1.0, 0.5], [0.5, 1.0]]))
    t = _alloc("risk_parity", cov, target_vol=0.3, max_leverage=10.0)
    port_vol = math.sqrt(t @ cov @ t)
    assert port_vol == pytest.approx(0.3)


@settings(max_examples=60, deadline=None)
@given(
    vols=st.lists(st.floats(0.05, 2.0), min_size=2, max_size=5),
    corr=st.floats(-0.2, 0.95),
)
def test_risk_parity_property_equal_contributions(vols: list[float], corr: float) -> None:
    a = len(vols)
    c = np.full((a, a), corr)
    np.fill_diagonal(c, 1.0)
    if np.linalg.eigvalsh(c).min() < 1e-3:
        return
    cov = _cov(vols, c)
    w = _alloc("risk_parity", cov)  # the default number of sweeps
    assert np.all(w > 0) and w.sum() == pytest.approx(1.0)
    rc = w * (cov @ w)
    np.testing.assert_allclose(rc, rc.mean(), rtol=1e-6)
