"""Online, vectorised estimators that feed the strategies (the live keeper and the backtester share them).

Each update takes the new prices of n vaults x a assets and the elapsed time dt (seconds); with the simple
return r = P_t / P_{t-1} - 1 and dt_y = dt in years, every EWMA uses the time-based weight
alpha = 1 - 2^(-dt / half_life), so irregular block times are handled:

    var   <- (1 - alpha) var + alpha r^2 / dt_y            (annualised variance, zero-mean RiskMetrics)
    cov   <- (1 - alpha) cov + alpha r r' / dt_y           (annualised covariance, a x a)
    drift  = EWMA(r) / EWMA(dt_y), bias-corrected by the weight sum (annualised mean simple return)
    n_eff  = (sum w)^2 / sum w^2                           (Kish effective sample size of that mean)
    trend  = (EWMA_fast(ln P) - EWMA_slow(ln P)) / (vol * sqrt(slow half-life in years))
    zscore = (ln P - EWMA(ln P)) / sqrt(EWMA((ln P - EWMA(ln P))^2))

Variances start at the prior ``prior_vol^2``, so the first decisions are not taken on one noisy return.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from keeper.strategies.base import SECONDS_PER_YEAR, Estimates, FloatArray, as_float_array, check_range

DAY = 86_400.0


@dataclass(frozen=True)
class EstimatorConfig:
    vol_halflife: float = 3 * DAY  # seconds
    drift_halflife: float = 30 * DAY
    trend_fast_halflife: float = 2 * DAY
    trend_slow_halflife: float = 10 * DAY
    zscore_halflife: float = 2 * DAY
    prior_vol: float = 0.8  # per sqrt(year)

    def __post_init__(self) -> None:
        for name in ("vol_halflife", "drift_halflife", "trend_fast_halflife", "trend_slow_halflife", "zscore_halflife"):
            check_range(name, getattr(self, name), 0.0, 10 * SECONDS_PER_YEAR, lo_open=True)
        check_range("prior_vol", self.prior_vol, 0.0, 20.0, lo_open=True)
        if self.trend_fast_halflife >= self.trend_slow_halflife:
            check_range("trend_fast_halflife", self.trend_fast_halflife, 0.0, self.trend_slow_halflife, hi_open=True)


@dataclass(frozen=True)
class EstimatorState:
    time: float
    log_price: FloatArray  # (n, a)
    var: FloatArray  # (n, a)
    cov: FloatArray  # (n, a, a)
    mean_r: FloatArray  # (n, a), not bias-corrected
    mean_dt: float  # years, not bias-corrected
    w_sum: float
    w2_sum: float
    fast: FloatArray
    slow: FloatArray
    mr_mean: FloatArray
    mr_var: FloatArray


def _alpha(dt: float, half_life: float) -> float:
    return 1.0 - math.pow(2.0, -dt / half_life)


def init_estimators(prices: FloatArray, time: float, cfg: EstimatorConfig) -> EstimatorState:
    n, a = prices.shape
    log_p = as_float_array(np.log(prices))
    prior_var = cfg.prior_vol**2
    zero = np.zeros((n, a))
    return EstimatorState(
        time=time,
        log_price=log_p,
        var=np.full((n, a), prior_var),
        cov=as_float_array(np.broadcast_to(np.eye(a) * prior_var, (n, a, a)).copy()),
        mean_r=zero,
        mean_dt=0.0,
        w_sum=0.0,
        w2_sum=0.0,
        fast=log_p,
        slow=log_p,
        mr_mean=log_p,
        # stationary variance of a random walk around its own EWMA is about sigma^2 * h / ln 2
        mr_var=np.full((n, a), prior_var * cfg.zscore_halflife / SECONDS_PER_YEAR / math.log(2.0)),
    )


def update_estimators(st: EstimatorState, prices: FloatArray, time: float, cfg: EstimatorConfig) -> EstimatorState:
    dt = time - st.time
    if dt <= 0.0:
        return st
    dt_y = dt / SECONDS_PER_YEAR
    log_p = as_float_array(np.log(prices))
    r = as_float_array(np.expm1(log_p - st.log_price))
    a_vol = _alpha(dt, cfg.vol_halflife)
    a_drift = _alpha(dt, cfg.drift_halflife)
    a_fast = _alpha(dt, cfg.trend_fast_halflife)
    a_slow = _alpha(dt, cfg.trend_slow_halflife)
    a_mr = _alpha(dt, cfg.zscore_halflife)
    r2 = r * r / dt_y
    if prices.shape[1] == 1:
        cov = as_float_array(r2[:, :, None])
        cov = st.cov + a_vol * (cov - st.cov)
    else:
        cov = st.cov + a_vol * (r[:, :, None] * r[:, None, :] / dt_y - st.cov)
    mr_mean = st.mr_mean + a_mr * (log_p - st.mr_mean)
    dev = log_p - mr_mean
    return replace(
        st,
        time=time,
        log_price=log_p,
        var=st.var + a_vol * (r2 - st.var),
        cov=cov,
        mean_r=st.mean_r + a_drift * (r - st.mean_r),
        mean_dt=st.mean_dt + a_drift * (dt_y - st.mean_dt),
        w_sum=(1.0 - a_drift) * st.w_sum + a_drift,
        w2_sum=(1.0 - a_drift) ** 2 * st.w2_sum + a_drift**2,
        fast=st.fast + a_fast * (log_p - st.fast),
        slow=st.slow + a_slow * (log_p - st.slow),
        mr_mean=mr_mean,
        mr_var=st.mr_var + a_mr * (dev * dev - st.mr_var),
    )


def estimates(st: EstimatorState, cfg: EstimatorConfig) -> Estimates:
    vol = as_float_array(np.sqrt(st.var))
    n = st.var.shape[0]
    if st.w_sum > 0.0 and st.mean_dt > 0.0:
        drift = as_float_array(st.mean_r / st.mean_dt)  # both carry the same bias factor w_sum
        n_eff = st.w_sum**2 / st.w2_sum
    else:
        drift = np.zeros_like(vol)
        n_eff = 0.0
    slow_years = cfg.trend_slow_halflife / SECONDS_PER_YEAR
    safe_vol = np.where(vol > 0.0, vol, 1.0)
    trend = np.where(vol > 0.0, (st.fast - st.slow) / (safe_vol * math.sqrt(slow_years)), 0.0)
    mr_sd = np.sqrt(st.mr_var)
    zscore = np.where(mr_sd > 0.0, (st.log_price - st.mr_mean) / np.where(mr_sd > 0.0, mr_sd, 1.0), 0.0)
    return Estimates(
        vol=vol,
        drift=drift,
        n_eff=np.full(n, n_eff),
        cov=st.cov,
        trend=as_float_array(trend),
        zscore=as_float_array(zscore),
    )
