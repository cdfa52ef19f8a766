"""Price paths: loaded from CSV or generated (GBM, GARCH(1,1), jump diffusion with crash regimes), one or
several correlated assets, reproducible from a seed.

Shapes are time-major, so the engine's per-step slice prices[k] is contiguous: prices (n_steps + 1, n_paths,
n_assets); times (n_steps + 1,) seconds, shared by all paths.

Generators (z = correlated standard normals, z = L e with L the Cholesky factor of the correlation matrix
whose off-diagonal entries are all `corr`; dt in years):
    gbm:    ln P_{t+1} - ln P_t = (mu - sigma^2 / 2) dt + sigma sqrt(dt) z
    garch:  h_{t+1} = omega + alpha eps_t^2 + beta h_t, eps_t = sqrt(h_t) z_t, with the long-run per-step
            variance omega / (1 - alpha - beta) = sigma^2 dt;  ln P_{t+1} - ln P_t = mu dt - h_t / 2 + eps_t
    jump:   Merton jumps plus a two-state (calm / crash) Markov regime: each step the crash regime starts with
            probability crash_prob and ends with crash_exit; in a crash vol is sigma * crash_vol_mult and the
            drift crash_drift. Jumps arrive Poisson(jump_rate dt) on all assets at once, each asset's log size
            N(jump_mean, jump_std^2);  ln P_{t+1} - ln P_t = (m - s^2 / 2 - jump_rate k) dt + s sqrt(dt) z + J,
            k = E[e^J - 1] (compensated, so `mu` stays the mean return in calm times).
`implied_vol` is a model-vol proxy for the implied-vol strategies: the generator's conditional volatility
(sigma, sqrt(h_t / dt), or the regime's diffusion-plus-jump volatility) times `iv_premium`.

CSV formats (header required, first column `timestamp` as unix seconds or ISO 8601, UTC if no zone):
    timestamp,price                             one asset
    timestamp,open,high,low,close[,volume]      one asset, the close is used, high/low are checked
    timestamp,ETH,BTC,...                       one asset per further column (names from the header)
Rows must have strictly increasing timestamps and positive prices; any problem raises CsvError naming the
file and line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from keeper.strategies.base import SECONDS_PER_YEAR, FloatArray, StrategyError, as_float_array, check_range


class CsvError(StrategyError):
    """A price CSV is malformed; the message is `file:line: what is wrong`."""


@dataclass(frozen=True)
class PricePaths:
    prices: FloatArray  # (n_steps + 1, n_paths, n_assets), time-major
    times: FloatArray  # (n_steps + 1,) seconds
    assets: tuple[str, ...]
    source: str
    implied_vol: FloatArray | None = None  # broadcastable to the shape of prices

    @property
    def n_paths(self) -> int:
        return int(self.prices.shape[1])

    @property
    def n_steps(self) -> int:
        return int(self.prices.shape[0]) - 1

    @property
    def n_assets(self) -> int:
        return int(self.prices.shape[2])


# --- generators -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenParams:
    """Generator settings (the CLI's --gen k=v). Rates and vols are annual; dt is seconds per step."""

    s0: float = 2_000.0
    mu: float = 0.0
    sigma: float = 0.8
    corr: float = 0.5
    dt: float = 3_600.0
    alpha: float = 0.08  # garch
    beta: float = 0.9  # garch
    jump_rate: float = 4.0  # jumps per year
    jump_mean: float = -0.08
    jump_std: float = 0.1
    crash_prob: float = 0.001  # per step
    crash_exit: float = 0.05  # per step
    crash_vol_mult: float = 3.0
    crash_drift: float = -2.0  # per year, in the crash regime
    iv_premium: float = 1.1

    def __post_init__(self) -> None:
        check_range("s0", self.s0, 0.0, 1e12, lo_open=True)
        check_range("mu", self.mu, -10.0, 10.0)
        check_range("sigma", self.sigma, 0.0, 10.0)
        check_range("corr", self.corr, -1.0, 1.0)
        check_range("dt", self.dt, 1.0, SECONDS_PER_YEAR)
        check_range("alpha", self.alpha, 0.0, 1.0)
        check_range("beta", self.beta, 0.0, 1.0 - self.alpha, hi_open=True)
        check_range("jump_rate", self.jump_rate, 0.0, 1e4)
        check_range("jump_mean", self.jump_mean, -5.0, 5.0)
        check_range("jump_std", self.jump_std, 0.0, 5.0)
        check_range("crash_prob", self.crash_prob, 0.0, 1.0)
        check_range("crash_exit", self.crash_exit, 0.0, 1.0)
        check_range("crash_vol_mult", self.crash_vol_mult, 0.0, 100.0)
        check_range("crash_drift", self.crash_drift, -100.0, 100.0)
        check_range("iv_premium", self.iv_premium, 0.0, 10.0)


def correlation_cholesky(n_assets: int, corr: float) -> FloatArray:
    c = np.full((n_assets, n_assets), corr)
    np.fill_diagonal(c, 1.0)
    try:
        return as_float_array(np.linalg.cholesky(c))
    except np.linalg.LinAlgError:
        lo = -1.0 / (n_assets - 1) if n_assets > 1 else -1.0
        raise StrategyError(
            f"corr: must be in ({lo:g}, 1) for {n_assets} assets (positive definite), got {corr:g}"
        ) from None


def _normals(rng: np.random.Generator, n_paths: int, n_steps: int, chol: FloatArray) -> FloatArray:
    e = rng.standard_normal((n_steps, n_paths, chol.shape[0]))
    return e if chol.shape[0] == 1 else as_float_array(e @ chol.T)


def _assemble(log_ret: FloatArray, g: GenParams, vol: FloatArray, source: str) -> PricePaths:
    """Prices from log returns (n_steps, n_paths, a); `vol` is the model volatility over each step,
    broadcastable to log_ret (its first step's value is reused for time 0)."""
    n_steps, n_paths, n_assets = log_ret.shape
    log_p = np.empty((n_steps + 1, n_paths, n_assets))
    log_p[0] = 0.0
    np.cumsum(log_ret, axis=0, out=log_p[1:])
    log_p += math.log(g.s0)
    if vol.shape[0] == 1:  # constant in time: a read-only broadcast view, no memory
        iv = np.broadcast_to(vol * g.iv_premium, log_p.shape)
    else:
        iv = np.concatenate([vol[:1], vol], axis=0) * g.iv_premium
    return PricePaths(
        prices=as_float_array(np.exp(log_p, out=log_p)),
        times=np.arange(n_steps + 1, dtype=np.float64) * g.dt,
        assets=tuple(f"A{i}" for i in range(n_assets)),
        source=source,
        implied_vol=as_float_array(iv),
    )


def gbm_paths(n_paths: int, n_steps: int, n_assets: int, g: GenParams, rng: np.random.Generator) -> PricePaths:
    dt = g.dt / SECONDS_PER_YEAR
    z = _normals(rng, n_paths, n_steps, correlation_cholesky(n_assets, g.corr))
    z *= g.sigma * math.sqrt(dt)
    z += (g.mu - 0.5 * g.sigma**2) * dt
    return _assemble(z, g, np.full((1, 1, n_assets), g.sigma), "gbm")


def garch_paths(n_paths: int, n_steps: int, n_assets: int, g: GenParams, rng: np.random.Generator) -> PricePaths:
    dt = g.dt / SECONDS_PER_YEAR
    z = _normals(rng, n_paths, n_steps, correlation_cholesky(n_assets, g.corr))
    long_run = g.sigma**2 * dt
    omega = long_run * (1.0 - g.alpha - g.beta)
    h = np.full((n_paths, n_assets), long_run)
    log_ret = np.empty_like(z)
    cond = np.empty_like(z)
    for t in range(n_steps):
        eps = np.sqrt(h) * z[t]
        log_ret[t] = g.mu * dt - 0.5 * h + eps
        cond[t] = h
        h = omega + g.alpha * eps * eps + g.beta * h
    return _assemble(log_ret, g, as_float_array(np.sqrt(cond / dt)), "garch")


def jump_paths(n_paths: int, n_steps: int, n_assets: int, g: GenParams, rng: np.random.Generator) -> PricePaths:
    dt = g.dt / SECONDS_PER_YEAR
    z = _normals(rng, n_paths, n_steps, correlation_cholesky(n_assets, g.corr))
    crash = np.zeros((n_steps, n_paths), dtype=np.bool_)  # regime path, True = crash
    if g.crash_prob > 0.0:
        u = rng.random((n_steps, n_paths))
        state = np.zeros(n_paths, dtype=np.bool_)
        for t in range(n_steps):
            state = np.where(state, u[t] >= g.crash_exit, u[t] < g.crash_prob)
            crash[t] = state
    sig = np.where(crash, g.sigma * g.crash_vol_mult, g.sigma)
    k = math.exp(g.jump_mean + 0.5 * g.jump_std**2) - 1.0
    drift = (np.where(crash, g.crash_drift, g.mu) - 0.5 * sig**2 - g.jump_rate * k) * dt
    z *= (sig * math.sqrt(dt))[:, :, None]
    z += drift[:, :, None]
    # iid Poisson(jump_rate dt) counts per (step, path): draw the total, then spread it uniformly over the
    # cells (the multinomial split of a Poisson total is exactly that); only cells with jumps are touched.
    total = int(rng.poisson(g.jump_rate * dt * n_steps * n_paths))
    cells, counts = np.unique(rng.integers(0, n_steps * n_paths, total), return_counts=True)
    t_idx, p_idx = np.divmod(cells, n_paths)
    c = counts[:, None].astype(np.float64)
    z[t_idx, p_idx, :] += c * g.jump_mean + np.sqrt(c) * g.jump_std * rng.standard_normal((len(cells), n_assets))
    jump_var = g.jump_rate * (g.jump_mean**2 + g.jump_std**2)
    vol = np.broadcast_to(np.sqrt(sig**2 + jump_var)[:, :, None], z.shape)
    return _assemble(z, g, as_float_array(vol), "jump")


GENERATORS = {"gbm": gbm_paths, "garch": garch_paths, "jump": jump_paths}


def generate(
    kind: str, n_paths: int, n_steps: int, n_assets: int, g: GenParams, seed: int | None = 0
) -> PricePaths:
    if kind not in GENERATORS:
        raise StrategyError(f"paths: unknown generator {kind!r} (known: {', '.join(GENERATORS)}, or a CSV file)")
    check_range("n_paths", n_paths, 1, 10**7)
    check_range("steps", n_steps, 1, 10**8)
    check_range("assets", n_assets, 1, 64)
    return GENERATORS[kind](n_paths, n_steps, n_assets, g, np.random.default_rng(seed))


# --- CSV ------------------------------------------------------------------------------------------

_OHLC = ("open", "high", "low", "close")


def _iso_seconds(text: str, where: str) -> float:
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CsvError(f"{where}: timestamp {text!r} is neither unix seconds nor ISO 8601") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def _parse_time(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = _iso_seconds(text, where)
    if not math.isfinite(value):
        raise CsvError(f"{where}: timestamp {text.strip()!r} is not a finite number")
    return value


def _parse_price(text: str, column: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CsvError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0.0:
        raise CsvError(f"{where}: {column} must be a positive finite number, got {text.strip()!r}")
    return value


def load_csv(path: str | Path) -> PricePaths:
    """Read one price path (one or more assets) from a CSV file; see the module docstring for formats."""
    p = Path(path)
    name = str(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CsvError(f"{name}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CsvError(f"{name}: not a UTF-8 text file") from None
    rows = csv.reader(text.splitlines())
    header: list[str] | None = None
    times: list[float] = []
    values: list[list[float]] = []
    columns: list[int] = []
    ohlc = False
    for line_no, row in enumerate(rows, start=1):
        if not row or all(not c.strip() for c in row):
            continue
        where = f"{name}:{line_no}"
        if header is None:
            header = [c.strip().lower() for c in row]
            if header[0] != "timestamp":
                raise CsvError(f"{where}: first column must be 'timestamp', got {row[0].strip()!r}")
            if len(header) < 2:
                raise CsvError(f"{where}: need at least one price column after 'timestamp'")
            ohlc = all(c in header for c in _OHLC)
            if ohlc:
                columns = [header.index(c) for c in _OHLC]
            else:
                columns = list(range(1, len(header)))
                if len(set(header)) != len(header):
                    raise CsvError(f"{where}: duplicate column names in header")
            continue
        if len(row) != len(header):
            raise CsvError(f"{where}: expected {len(header)} fields like the header, got {len(row)}")
        t = _parse_time(row[0], where)
        if times and t <= times[-1]:
            raise CsvError(f"{where}: timestamp {row[0].strip()} is not after the previous row's")
        vals = [_parse_price(row[c], header[c], where) for c in columns]
        if ohlc:
            o, h, lo, c = vals
            if h < max(o, c, lo) or lo > min(o, c):
                raise CsvError(f"{where}: high/low inconsistent with open/close (o={o:g} h={h:g} l={lo:g} c={c:g})")
            vals = [c]
        times.append(t)
        values.append(vals)
    if header is None:
        raise CsvError(f"{name}:1: empty file (expected a header 'timestamp,price')")
    if len(times) < 2:
        raise CsvError(f"{name}: need at least 2 data rows, got {len(times)}")
    stem = p.stem or "asset"
    if ohlc or len(columns) == 1 and header[1] == "price":
        assets: tuple[str, ...] = (stem,)
    else:
        assets = tuple(header[c] for c in columns)
    arr = np.asarray(values, dtype=np.float64)[:, None, :]
    t_arr = np.asarray(times, dtype=np.float64)
    return PricePaths(prices=arr, times=t_arr - t_arr[0], assets=assets, source=name)
