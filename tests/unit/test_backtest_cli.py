"""`keeper backtest`: runs, outputs and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from keeper.cli import main

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def test_help_works_as_a_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "keeper.cli", "backtest", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0
    assert "--strategy" in out.stdout and "--compare" in out.stdout and "--paths" in out.stdout


def test_single_strategy_writes_png_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png, js = tmp_path / "r.png", tmp_path / "r.json"
    code = main(
        ["backtest", "--strategy", "vol_target", "--paths", "garch", "--steps", "120", "--n-paths", "4",
         "--assets", "2", "--seed", "3", "--params", "target_vol=0.4", "--plot", str(png), "--json", str(js)]
    )
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(js.read_text())
    (res,) = data["results"]
    assert res["strategy"] == "vol_target" and res["params"]["target_vol"] == 0.4 and res["paths"] == 4
    assert data["engine"] == "float" and data["rules"]["max_leverage"] == 3.0
    for key in ("sharpe", "sortino", "max_drawdown", "time_under_water", "turnover", "gas_cost_eth", "p_liquidation",
                "min_liq_distance", "rebalances"):
        assert key in res
    out = capsys.readouterr().out
    assert "vol_target" in out and "Sharpe" in out


def test_compare_on_a_csv_uses_the_exact_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    js = tmp_path / "c.json"
    code = main(
        ["backtest", "--compare", "leverage_band,vol_target,fixed_fraction", "--paths", str(DATA / "eth_hourly.csv"),
         "--params", "vol_target.target_vol=0.3", "leverage=1.5", "--json", str(js), "--plot", str(tmp_path / "c.png")]
    )
    assert code == 0
    data = json.loads(js.read_text())
    assert [r["strategy"] for r in data["results"]] == ["leverage_band", "vol_target", "fixed_fraction"]
    assert data["engine"] == "exact"
    assert data["results"][1]["params"]["target_vol"] == 0.3 and data["results"][2]["params"]["leverage"] == 1.5
    assert len(data["table"]) == 5
    assert (tmp_path / "c-vol_target.png").exists()
    table = capsys.readouterr().out
    assert "leverage_band" in table and "fixed_fraction" in table


def _error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["backtest", *args])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    return lines[0]


def test_bad_csv_is_one_line_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,price\n1,100\n2,oops\n")
    msg = _error(["--strategy", "vol_target", "--paths", str(bad)], capsys)
    assert msg == f"keeper backtest: error: {bad}:3: price 'oops' is not a number"


def test_bad_params_are_one_line_naming_field_and_range(capsys: pytest.CaptureFixture[str]) -> None:
    msg = _error(["--strategy", "leverage_band", "--params", "target_leverage=25"], capsys)
    assert msg == "keeper backtest: error: target_leverage: must be in (0, 20], got 25"
    assert "max_leverage: must be in" in _error(["--strategy", "vol_target", "--rules", "max_leverage=9"], capsys)
    assert "unknown parameter" in _error(["--strategy", "vol_target", "--params", "speed=3"], capsys)
    assert "sigma: must be in [0, 10]" in _error(["--strategy", "vol_target", "--gen", "sigma=-1"], capsys)
    assert "no strategy in" in _error(["--compare", "vol_target,kelly", "--params", "recenter_speed=0.1"], capsys)
    assert "unknown name 'nope'" in _error(["--strategy", "nope"], capsys)
    assert "neither a file nor a generator" in _error(["--strategy", "vol_target", "--paths", "missing.csv"], capsys)
    assert "needs option legs" in _error(["--strategy", "delta_hedge"], capsys)
    implied = ["--strategy", "vol_target_implied", "--paths", str(DATA / "eth_hourly.csv")]
    assert "needs implied volatility" in _error(implied, capsys)


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["backtest"])
    assert exc.value.code == 2


def test_list_and_dangerous_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--list"]) == 0
    out = capsys.readouterr().out
    assert "martingale_DANGEROUS [DANGEROUS]" in out and "risk_parity" in out
    assert main(["backtest", "--strategy", "martingale_DANGEROUS", "--steps", "50"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("keeper backtest: WARNING: martingale_DANGEROUS")
