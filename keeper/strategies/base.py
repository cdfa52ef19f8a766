"""Shared types of the strategy library: snapshot, decision convention, parameter validation, registry entry.

Convention (every strategy, the overlay and the backtester use it):

    target[i, j] = signed target notional of asset j in vault i / equity of vault i

i.e. a signed target *leverage per asset*. Positive is long, negative short, 0 flat. The vault's gross
leverage is ``sum_j |target[i, j]|``. Working in leverage rather than notional keeps the decision
independent of the vault's size, so one call decides 10,000 vaults of any size at once.

Arrays are ``(n, a)``: n vaults (or Monte Carlo paths) by a assets; per-vault scalars are ``(n,)``.
A strategy never mutates its inputs: it returns the target and a new state mapping.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar, get_type_hints

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
State = Mapping[str, FloatArray]

SECONDS_PER_YEAR = 365.0 * 86_400.0  # perps trade every day


class StrategyError(ValueError):
    """Base class of every error the strategy library raises on bad input."""


class ParamError(StrategyError):
    """A parameter is outside its accepted range; the message names the field and the range."""


class DangerousStrategyWarning(UserWarning):
    """Raised (as a warning) when a strategy that can lose the whole vault is configured."""


def as_float_array(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


# --- parameter validation -------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def check_range(
    name: str, value: float, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False
) -> None:
    """Raise ParamError("name: must be in (lo, hi], got value") unless lo <(=) value <(=) hi."""
    ok = not math.isnan(value)
    ok = ok and (value > lo if lo_open else value >= lo)
    ok = ok and (value < hi if hi_open else value <= hi)
    if not ok:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        raise ParamError(f"{name}: must be in {left}{_fmt(lo)}, {_fmt(hi)}{right}, got {_fmt(value)}")


def check_side(name: str, value: int) -> None:
    if value not in (-1, 1):
        raise ParamError(f"{name}: must be 1 (long) or -1 (short), got {value}")


def check_increasing(name: str, values: Sequence[float]) -> None:
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ParamError(f"{name}: must be strictly increasing, got {tuple(values)}")


P = TypeVar("P")
D = TypeVar("D", bound="DataclassInstance")


def _convert(cls_name: str, key: str, hint: Any, text: str) -> Any:
    try:
        if hint is bool:
            low = text.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
        if hint == tuple[float, ...]:
            return tuple(float(v) for v in text.split(",") if v.strip())
        if hint is str:
            return text
    except ValueError:
        kind = {bool: "true/false", int: "an integer", float: "a number"}.get(hint, "comma-separated numbers")
        raise ParamError(f"{key}: expected {kind}, got {text!r}") from None
    raise ParamError(f"{key}: parameters of type {hint} cannot be set from text ({cls_name})")


def parse_params(cls: type[D], pairs: Sequence[str] | Mapping[str, str]) -> D:
    """Build a params dataclass from ``["key=value", ...]`` (the CLI's ``--params``); validation runs in
    the dataclass itself, so errors name the field and the accepted range."""
    if isinstance(pairs, Mapping):
        items = list(pairs.items())
    else:
        items = []
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise ParamError(f"{pair!r}: expected key=value")
            items.append((key.strip(), value.strip()))
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in items:
        if key not in names:
            raise ParamError(f"{key}: unknown parameter of {cls.__name__} (accepted: {', '.join(names)})")
        kwargs[key] = _convert(cls.__name__, key, hints[key], value)
    return cls(**kwargs)


# --- snapshot -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketView:
    """Float view of the market parameters a strategy needs (the chain stores them as WAD integers).

    Ratios are fractions (0.05 = 5 %); keeper fees are in collateral units."""

    maintenance_margin: FloatArray  # (a,)
    initial_margin: FloatArray  # (a,)
    liquidation_fee_ratio: float = 0.0
    min_keeper_fee: float = 0.0
    max_keeper_fee: float = 0.0
    taker_fee: FloatArray | None = None  # (a,), used by the hedging band


@dataclass(frozen=True)
class Estimates:
    """Online estimators (see keeper.strategies.estimators), annualised, each (n, a) unless noted."""

    vol: FloatArray  # EWMA realised volatility, per sqrt(year)
    drift: FloatArray  # EWMA mean simple return, per year
    n_eff: FloatArray  # (n,) effective number of observations behind `drift` (Kish)
    cov: FloatArray  # (n, a, a) EWMA covariance of returns, per year
    trend: FloatArray  # (fast - slow EWMA of log price) / (vol * sqrt(slow half-life)), dimensionless
    zscore: FloatArray  # (log price - its EWMA mean) / EWMA std of that deviation


@dataclass(frozen=True)
class OptionBook:
    """One option leg per vault and asset (qty 0 = none). Quantities are in asset units, signed."""

    qty: FloatArray  # (n, a)
    strike: FloatArray  # (n, a)
    expiry: FloatArray  # (n, a) absolute time in seconds, same clock as Snapshot.time
    is_call: BoolArray  # (n, a)
    rate: float = 0.0  # continuously compounded, per year


@dataclass(frozen=True)
class Snapshot:
    """Everything a strategy may look at: plain arrays, no chain objects."""

    time: float  # seconds
    prices: FloatArray  # (n, a)
    equity: FloatArray  # (n,) collateral units
    exposure: FloatArray  # (n, a) current signed leverage per asset
    peak_equity: FloatArray  # (n,) high-water mark of equity
    est: Estimates
    market: MarketView
    implied_vol: FloatArray | None = None  # (n, a) per sqrt(year)
    options: OptionBook | None = None

    @property
    def n(self) -> int:
        return int(self.prices.shape[0])

    @property
    def assets(self) -> int:
        return int(self.prices.shape[1])

    def gross_leverage(self) -> FloatArray:
        return as_float_array(np.abs(self.exposure).sum(axis=1))


Decision = tuple[FloatArray, State]
StrategyFn = Callable[[Snapshot, P, State], Decision]


def no_state(snap: Snapshot, params: object) -> State:
    return {}


@dataclass(frozen=True)
class StrategySpec(Generic[P]):
    """A registry entry: the pure decision function, its params type and how to start its state."""

    name: str
    fn: Callable[[Snapshot, P, State], Decision]
    params: type[P]
    summary: str
    init_state: Callable[[Snapshot, P], State] = no_state
    dangerous: bool = False
    needs: frozenset[str] = field(default_factory=frozenset)  # "options", "implied_vol"


def equal_weights(snap: Snapshot) -> FloatArray:
    return np.full(snap.prices.shape, 1.0 / snap.assets)


def solvent(snap: Snapshot) -> BoolArray:
    """Vaults that can hold a position at all: positive, finite equity."""
    return np.asarray(np.isfinite(snap.equity) & (snap.equity > 0.0), dtype=np.bool_)


def zero_insolvent(snap: Snapshot, target: FloatArray) -> FloatArray:
    """Every strategy ends with this: no exposure for a vault with zero or negative equity."""
    ok = solvent(snap)[:, None]
    return as_float_array(np.where(ok & np.isfinite(target), target, 0.0))


def scale_gross(target: FloatArray, max_gross: float | FloatArray) -> FloatArray:
    """Scale each row down (never up) so that sum |target| <= max_gross."""
    gross = np.abs(target).sum(axis=1)
    cap = np.broadcast_to(np.asarray(max_gross, dtype=np.float64), gross.shape)
    factor = np.where(gross > cap, cap / np.where(gross > 0, gross, 1.0), 1.0)
    return as_float_array(target * factor[:, None])


def favourable(prices: FloatArray, side: int) -> FloatArray:
    """Price transformed so that a move in the position's favour always increases it (P for longs,
    1/P for shorts); the path-dependent strategies run their logic on this one number."""
    return prices if side == 1 else as_float_array(1.0 / prices)


def make_snapshot(
    prices: npt.ArrayLike,
    *,
    equity: npt.ArrayLike = 1.0,
    exposure: npt.ArrayLike = 0.0,
    peak_equity: npt.ArrayLike | None = None,
    vol: npt.ArrayLike = 0.8,
    drift: npt.ArrayLike = 0.0,
    n_eff: npt.ArrayLike = 0.0,
    cov: npt.ArrayLike | None = None,
    trend: npt.ArrayLike = 0.0,
    zscore: npt.ArrayLike = 0.0,
    maintenance_margin: npt.ArrayLike = 0.05,
    initial_margin: npt.ArrayLike = 0.1,
    liquidation_fee_ratio: float = 0.0,
    min_keeper_fee: float = 0.0,
    max_keeper_fee: float = 0.0,
    taker_fee: npt.ArrayLike | None = None,
    time: float = 0.0,
    implied_vol: npt.ArrayLike | None = None,
    options: OptionBook | None = None,
) -> Snapshot:
    """Build a Snapshot from scalars or arrays (broadcast to (n, a)); prices of shape (n,) mean one asset.
    Without `cov`, the covariance is diagonal with `vol`^2. For tests, notebooks and the live keeper."""
    p = as_float_array(prices)
    single = p.ndim == 1
    p = p[:, None] if single else p
    if p.ndim != 2:
        raise StrategyError(f"prices: expected shape (n,) or (n, assets), got {p.shape}")
    n, a = p.shape
    shape = (n, a)

    def _grid(x: npt.ArrayLike) -> FloatArray:
        arr = as_float_array(x)
        arr = arr[:, None] if single and arr.ndim == 1 else arr  # one value per vault of a single asset
        return as_float_array(np.broadcast_to(arr, shape).copy())

    eq = as_float_array(np.broadcast_to(as_float_array(equity), (n,)).copy())
    v = _grid(vol)
    if cov is None:
        c = as_float_array(np.eye(a)[None, :, :] * (v * v)[:, :, None])
    else:
        c = as_float_array(np.broadcast_to(as_float_array(cov), (n, a, a)).copy())
    est = Estimates(
        vol=v,
        drift=_grid(drift),
        n_eff=as_float_array(np.broadcast_to(as_float_array(n_eff), (n,)).copy()),
        cov=c,
        trend=_grid(trend),
        zscore=_grid(zscore),
    )
    market = MarketView(
        maintenance_margin=as_float_array(np.broadcast_to(as_float_array(maintenance_margin), (a,)).copy()),
        initial_margin=as_float_array(np.broadcast_to(as_float_array(initial_margin), (a,)).copy()),
        liquidation_fee_ratio=liquidation_fee_ratio,
        min_keeper_fee=min_keeper_fee,
        max_keeper_fee=max_keeper_fee,
        taker_fee=None if taker_fee is None else as_float_array(np.broadcast_to(as_float_array(taker_fee), (a,))),
    )
    return Snapshot(
        time=time,
        prices=p,
        equity=eq,
        exposure=_grid(exposure),
        peak_equity=eq.copy() if peak_equity is None else as_float_array(np.broadcast_to(peak_equity, (n,)).copy()),
        est=est,
        market=market,
        implied_vol=None if implied_vol is None else _grid(implied_vol),
        options=options,
    )
