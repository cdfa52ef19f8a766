"""Price paths: CSV formats and errors, seeded generators, correlated assets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from keeper.backtest.paths import CsvError, GenParams, generate, load_csv
from keeper.strategies import ParamError, StrategyError
from keeper.strategies.base import SECONDS_PER_YEAR

DATA = Path(__file__).resolve().parents[1] / "data"


def test_load_single_asset_csv() -> None:
    p = load_csv(DATA / "eth_hourly.csv")
    assert p.prices.shape == (400, 1, 1) and p.assets == ("eth_hourly",)
    assert p.times[0] == 0.0 and np.all(np.diff(p.times) == 3_600.0)
    assert p.prices[0, 0, 0] == pytest.approx(2320.3157)
    assert p.implied_vol is None


def test_load_multi_asset_and_ohlc_csv() -> None:
    multi = load_csv(DATA / "eth_btc_hourly.csv")
    assert multi.assets == ("eth", "btc") and multi.prices.shape == (400, 1, 2)
    ohlc = load_csv(DATA / "eth_ohlc_daily.csv")
    assert ohlc.prices.shape == (16, 1, 1)
    assert ohlc.prices[0, 0, 0] == pytest.approx(2261.77)  # the close
    assert np.all(np.diff(ohlc.times) == 86_400.0)  # ISO 8601 timestamps


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("timestamp,price\n1,100\n2,abc\n", 3, "price 'abc' is not a number"),
        ("timestamp,price\n1,100\n2,-5\n", 3, "price must be a positive finite number, got '-5'"),
        ("timestamp,price\n1,100\n\n1,101\n", 4, "timestamp 1 is not after the previous row's"),
        ("timestamp,price\n1,100\n2,101,7\n", 3, "expected 2 fields like the header, got 3"),
        ("time,price\n1,100\n", 1, "first column must be 'timestamp', got 'time'"),
        ("timestamp,price\nyesterday,100\n2,3\n", 2, "timestamp 'yesterday' is neither unix seconds nor ISO 8601"),
        ("timestamp,open,high,low,close\n1,10,9,8,9.5\n2,1,1,1,1\n", 2, "high/low inconsistent"),
        ("timestamp,price\n1,nan\n", 2, "price must be a positive finite number, got 'nan'"),
        ("timestamp,price\n1,100\nnan,101\n", 3, "timestamp 'nan' is not a finite number"),
        ("", 1, "empty file"),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path: Path, text: str, line: int, what: str) -> None:
    f = tmp_path / "prices.csv"
    f.write_text(text)
    with pytest.raises(CsvError) as err:
        load_csv(f)
    msg = str(err.value)
    assert msg.startswith(f"{f}:{line}: "), msg
    assert what in msg and "\n" not in msg


def test_csv_too_short_and_missing(tmp_path: Path) -> None:
    f = tmp_path / "one.csv"
    f.write_text("timestamp,price\n1,100\n")
    with pytest.raises(CsvError, match="need at least 2 data rows, got 1"):
        load_csv(f)
    with pytest.raises(CsvError, match="cannot read"):
        load_csv(tmp_path / "missing.csv")


@pytest.mark.parametrize("kind", ["gbm", "garch", "jump"])
def test_generators_are_seeded_and_well_formed(kind: str) -> None:
    g = GenParams()
    a = generate(kind, 50, 200, 2, g, seed=3)
    b = generate(kind, 50, 200, 2, g, seed=3)
    c = generate(kind, 50, 200, 2, g, seed=4)
    np.testing.assert_array_equal(a.prices, b.prices)
    assert not np.array_equal(a.prices, c.prices)
    assert a.prices.shape == (201, 50, 2) and np.all(a.prices > 0)
    np.testing.assert_allclose(a.prices[0], g.s0, rtol=1e-14)
    assert a.implied_vol is not None and a.implied_vol[5].shape == (50, 2)
    assert a.times[-1] == 200 * g.dt


def test_gbm_statistics_and_correlation() -> None:
    g = GenParams(mu=0.0, sigma=0.6, corr=0.7, dt=3_600.0)
    p = generate("gbm", 2_000, 300, 2, g, seed=1)
    r = np.diff(np.log(p.prices), axis=0)
    dt = g.dt / SECONDS_PER_YEAR
    assert float(r.std()) == pytest.approx(0.6 * math.sqrt(dt), rel=0.01)
    assert float(np.corrcoef(r[..., 0].ravel(), r[..., 1].ravel())[0, 1]) == pytest.approx(0.7, abs=0.01)
    # E[P_T] = P_0 e^{mu T} with mu = 0
    assert float(p.prices[-1].mean()) == pytest.approx(g.s0, rel=0.01)


def test_garch_has_volatility_clustering() -> None:
    g = GenParams(sigma=0.8, alpha=0.15, beta=0.8)
    r = np.diff(np.log(generate("garch", 400, 1_000, 1, g, seed=2).prices[..., 0]), axis=0)
    sq = r**2
    autocorr = np.corrcoef(sq[1:].ravel(), sq[:-1].ravel())[0, 1]
    assert autocorr > 0.05  # squared returns are autocorrelated, unlike GBM
    dt = g.dt / SECONDS_PER_YEAR
    assert float(r.std()) == pytest.approx(0.8 * math.sqrt(dt), rel=0.05)  # long-run variance


def test_jump_paths_have_fat_left_tail() -> None:
    g = GenParams(jump_rate=50.0, jump_mean=-0.1, jump_std=0.02, crash_prob=0.0)
    r = np.diff(np.log(generate("jump", 200, 1_000, 1, g, seed=5).prices[..., 0]), axis=0).ravel()
    assert r.min() < -0.08 and float(((r - r.mean()) ** 3).mean()) < 0.0


def test_generator_errors() -> None:
    with pytest.raises(StrategyError, match="unknown generator 'brownian'"):
        generate("brownian", 1, 10, 1, GenParams())
    with pytest.raises(StrategyError, match=r"^corr: must be in \(-0.5, 1\) for 3 assets"):
        generate("gbm", 1, 10, 3, GenParams(corr=-0.6))
    with pytest.raises(ParamError, match=r"^beta: must be in \[0, 0.5\), got 0.6$"):
        GenParams(alpha=0.5, beta=0.6)
