"""Black-Scholes(-Merton) prices and Greeks for European calls and puts, vectorised over numpy arrays.

With spot S, strike K, time to expiry T (years), volatility s (per sqrt(year)), rate r and carry yield q
(for a perp hedge q is the funding yield; 0 by default), N the normal cdf and n its density:

    d1 = (ln(S/K) + (r - q + s^2/2) T) / (s sqrt T),   d2 = d1 - s sqrt T
    call  = S e^{-qT} N(d1) - K e^{-rT} N(d2)          put  = K e^{-rT} N(-d2) - S e^{-qT} N(-d1)
    delta_call = e^{-qT} N(d1)                          delta_put = -e^{-qT} N(-d1)
    gamma = e^{-qT} n(d1) / (S s sqrt T)                vega = S e^{-qT} n(d1) sqrt T   (both kinds)
    theta_call = -S e^{-qT} n(d1) s / (2 sqrt T) - r K e^{-rT} N(d2)  + q S e^{-qT} N(d1)
    theta_put  = -S e^{-qT} n(d1) s / (2 sqrt T) + r K e^{-rT} N(-d2) - q S e^{-qT} N(-d1)

Theta is per year of calendar time (dV/dt = -dV/dT); vega is per unit of volatility (1.0 = 100 vol points).
Degenerate inputs take their limits instead of producing NaN: at T <= 0 or s = 0 the option is worth its
discounted forward intrinsic value, delta is a step, and gamma and vega are 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from keeper.strategies.base import FloatArray, as_float_array
from keeper.strategies.normal import norm_cdf_pair, norm_pdf


@dataclass(frozen=True)
class Greeks:
    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray


def bs_greeks(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    vol: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0,
    carry: npt.ArrayLike = 0.0,
    is_call: npt.ArrayLike = True,
) -> Greeks:
    """All arguments broadcast against each other; ``is_call`` may be a boolean array (False = put)."""
    s, k, tt, v, r, q, kind = np.broadcast_arrays(
        as_float_array(spot),
        as_float_array(strike),
        np.maximum(as_float_array(t), 0.0),
        np.maximum(as_float_array(vol), 0.0),
        as_float_array(rate),
        as_float_array(carry),
        np.asarray(is_call, dtype=np.bool_),
    )
    call = kind.astype(np.bool_)
    sqrt_t = np.sqrt(tt)
    sd = v * sqrt_t
    live = sd > 0.0
    sd_safe = np.where(live, sd, 1.0)
    log_fk = np.log(s / k) + (r - q) * tt
    step = np.where(log_fk > 0.0, np.inf, np.where(log_fk < 0.0, -np.inf, 0.0))
    d1 = np.where(live, (log_fk + 0.5 * sd * sd) / sd_safe, step)
    d2 = d1 - sd

    disc_q = np.exp(-q * tt)
    disc_r = np.exp(-r * tt)
    nd1, nmd1 = norm_cdf_pair(d1)
    nd2, nmd2 = norm_cdf_pair(d2)
    pdf = np.where(live, norm_pdf(np.where(live, d1, 0.0)), 0.0)

    price = np.where(call, s * disc_q * nd1 - k * disc_r * nd2, k * disc_r * nmd2 - s * disc_q * nmd1)
    delta = np.where(call, disc_q * nd1, -disc_q * nmd1)
    gamma = np.where(live, disc_q * pdf / (s * sd_safe), 0.0)
    vega = s * disc_q * pdf * sqrt_t
    decay = np.where(live, -s * disc_q * pdf * v / (2.0 * np.where(live, sqrt_t, 1.0)), 0.0)
    theta = np.where(
        call,
        decay - r * k * disc_r * nd2 + q * s * disc_q * nd1,
        decay + r * k * disc_r * nmd2 - q * s * disc_q * nmd1,
    )
    return Greeks(
        price=as_float_array(price),
        delta=as_float_array(delta),
        gamma=as_float_array(gamma),
        vega=as_float_array(vega),
        theta=as_float_array(theta),
    )
