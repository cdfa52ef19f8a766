"""Performance and risk metrics of a backtest.

With step returns r_t = E_t / E_{t-1} - 1, k = steps per year (365-day years, the mean step length):
    total return        E_T / E_0 - 1
    volatility          std(r) sqrt(k)                      (population std)
    Sharpe              mean(r) / std(r) sqrt(k)            (zero risk-free rate; None when std = 0)
    Sortino             mean(r) / sqrt(mean(min(r, 0)^2)) sqrt(k)   (None without a losing step)
    max drawdown        max_t (1 - E_t / max_{s<=t} E_s)
    time under water    share of steps with E_t below its running peak; the longest spell runs from the
                        peak to the recovery (or the end)
    turnover            sum |traded notional| / E_0  (and per year)
    gas                 sum over actions of count x gas per action (keeper.backtest.config.DEFAULT_GAS),
                        cost = gas x gas price (gwei) x 1e-9 in ETH
    distance to liq.    min_t (E_t - maintenance_t) / E_t while a position is open
    P(liquidation)      share of Monte Carlo paths liquidated, with a 95 % Wilson interval
Across Monte Carlo paths the per-path numbers are averaged (plus median / 5th percentile of the return).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from keeper.backtest.config import DEFAULT_GAS
from keeper.backtest.engine import SimResult
from keeper.strategies.base import SECONDS_PER_YEAR, FloatArray, as_float_array


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0.0 and math.isfinite(num) else None


def steps_per_year(times: FloatArray) -> float:
    span = float(times[-1] - times[0])
    return (len(times) - 1) * SECONDS_PER_YEAR / span if span > 0 else 0.0


def series_metrics(equity: npt.ArrayLike, times: npt.ArrayLike) -> dict[str, float | None]:
    """Metrics of one equity series, returns measured from its first point (reference implementation; the
    engine keeps the same numbers online, from the equity after the opening trade)."""
    e = as_float_array(equity)
    t = as_float_array(times)
    r = e[1:] / e[:-1] - 1.0
    k = steps_per_year(t)
    peak = np.maximum.accumulate(e)
    dd = 1.0 - e / peak
    below = dd > 1e-12
    longest, since = 0.0, None
    for i in range(1, len(e)):
        if since is not None:
            longest = max(longest, float(t[i] - since))
        since = (since if since is not None else float(t[i - 1])) if below[i] else None
    sd = float(r.std())
    down = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)))
    mean = float(r.mean())
    return {
        "total_return": float(e[-1] / e[0] - 1.0),
        "volatility": sd * math.sqrt(k),
        "sharpe": None if sd <= 0.0 else mean / sd * math.sqrt(k),
        "sortino": None if down <= 0.0 else mean / down * math.sqrt(k),
        "max_drawdown": float(dd.max()),
        "time_under_water": float(below[1:].mean()),
        "longest_under_water_days": longest / 86_400.0,
    }


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = hits / n
    den = 1.0 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def _mean(x: FloatArray) -> float | None:
    finite = x[np.isfinite(x)]
    return float(finite.mean()) if finite.size else None


def summarize(result: SimResult, gas_price_gwei: float = 20.0, gas: dict[str, int] | None = None) -> dict[str, Any]:
    """One JSON-ready dict of metrics; per-path numbers are averaged over the Monte Carlo paths."""
    gas = gas or DEFAULT_GAS
    s = result.stats
    e0 = result.config.initial_equity
    n = len(s.final_equity)
    k = steps_per_year(result.times)
    years = float(result.times[-1] - result.times[0]) / SECONDS_PER_YEAR
    cnt = np.maximum(s.n_returns, 1.0)
    mean_r = s.ret_sum / cnt
    sd = np.sqrt(np.maximum(s.ret_sq_sum / cnt - mean_r**2, 0.0))
    down = np.sqrt(s.down_sq_sum / cnt)
    sharpe = np.where(sd > 0.0, mean_r / np.where(sd > 0, sd, 1.0) * math.sqrt(k), np.nan)
    sortino = np.where(down > 0.0, mean_r / np.where(down > 0, down, 1.0) * math.sqrt(k), np.nan)
    ret = s.final_equity / e0 - 1.0
    gas_used = s.rebalances * gas["rebalance"] + s.iterates * gas["iterate"] + s.ripcords * gas["ripcord"]
    liquidations = int(s.liquidated.sum())
    lo, hi = wilson_interval(liquidations, n)
    exposed = np.isfinite(s.min_liq_distance)
    return {
        "strategy": result.strategy,
        "params": result.params,
        "paths": n,
        "steps": len(result.times) - 1,
        "years": years,
        "total_return": float(ret.mean()),
        "total_return_median": float(np.median(ret)),
        "total_return_p05": float(np.quantile(ret, 0.05)),
        "volatility": float((sd * math.sqrt(k)).mean()),
        "sharpe": _mean(as_float_array(sharpe)),
        "sortino": _mean(as_float_array(sortino)),
        "max_drawdown": float(s.max_drawdown.mean()),
        "max_drawdown_worst": float(s.max_drawdown.max()),
        "time_under_water": float((s.underwater_steps / cnt).mean()),
        "longest_under_water_days": float(s.longest_underwater.mean()) / 86_400.0,
        "turnover": float(s.traded_notional.mean()) / e0,
        "turnover_per_year": float(s.traded_notional.mean()) / e0 / years if years > 0 else None,
        "rebalances": float(s.rebalances.mean()),
        "iterates": float(s.iterates.mean()),
        "ripcords": float(s.ripcords.mean()),
        "rejected": float(s.rejected.mean()),
        "actions": float((s.rebalances + s.iterates + s.ripcords).mean()),
        "gas_used": float(gas_used.mean()),
        "gas_cost_eth": float(gas_used.mean()) * gas_price_gwei * 1e-9,
        "gas_price_gwei": gas_price_gwei,
        "fees": float(s.totals.fees.mean()),
        "funding": float(s.totals.funding.mean()),
        "liquidations": liquidations,
        "p_liquidation": liquidations / n,
        "p_liquidation_ci95": [lo, hi],
        "min_liq_distance": float(s.min_liq_distance[exposed].min()) if exposed.any() else None,
        "min_liq_distance_mean": float(s.min_liq_distance[exposed].mean()) if exposed.any() else None,
        "max_leverage": float(s.max_leverage.max()),
        "bad_debt": float(s.totals.bad_debt.mean()),
    }
