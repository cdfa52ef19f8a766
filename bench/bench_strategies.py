"""Throughput of the strategy library and of the Monte Carlo backtester; prints markdown tables.

    python bench/bench_strategies.py [--vaults 10000] [--paths 10000] [--steps 1000]

1. Decisions per second: one `decide` call (strategy + liquidation overlay) for N vaults at once, repeated;
   a "step" is one vault decided once. Goal: >= 1,000,000 steps/s for the vectorisable strategies.
2. Monte Carlo: the leverage-band strategy over PATHS x STEPS hourly steps with the float engine (vault rules,
   funding, fees, liquidations): FLI settings on GBM and on jump/crash paths, and a stressed 3x band with a
   light overlay to show a non-zero P(liquidation). Goal: <= 10 s per 10,000 x 1,000 run on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from keeper.backtest import (  # noqa: E402
    EngineConfig,
    GenParams,
    MarketSettings,
    VaultRules,
    generate,
    simulate,
    summarize,
)
from keeper.strategies import (  # noqa: E402
    STRATEGIES,
    DangerousStrategyWarning,
    OptionBook,
    OverlayParams,
    decide,
    make_snapshot,
)
from keeper.strategies.base import SECONDS_PER_YEAR, Snapshot  # noqa: E402
from keeper.strategies.greeks import bs_greeks  # noqa: E402


def _snapshot(n: int, a: int, rng: np.random.Generator) -> Snapshot:
    corr = np.full((a, a), 0.4) + 0.6 * np.eye(a)
    book = OptionBook(
        qty=rng.normal(0, 10, (n, a)),
        strike=np.full((n, a), 2_000.0),
        expiry=np.full((n, a), 30 * 86_400.0),
        is_call=rng.random((n, a)) < 0.5,
    )
    return make_snapshot(
        rng.uniform(1_500, 2_500, (n, a)),
        equity=rng.uniform(1e5, 1e6, n),
        exposure=rng.uniform(-1, 2, (n, a)),
        vol=rng.uniform(0.3, 1.2, (n, a)),
        drift=rng.normal(0, 0.5, (n, a)),
        n_eff=rng.uniform(0, 500, n),
        cov=corr * 0.64,
        trend=rng.normal(0, 1, (n, a)),
        zscore=rng.normal(0, 1.5, (n, a)),
        implied_vol=rng.uniform(0.3, 1.2, (n, a)),
        liquidation_fee_ratio=0.001,
        min_keeper_fee=5.0,
        max_keeper_fee=1_000.0,
        taker_fee=0.0005,
        options=book,
    )


def bench_decisions(n: int, assets: int, min_seconds: float = 0.3) -> list[tuple[str, float]]:
    rng = np.random.default_rng(0)
    snap = _snapshot(n, assets, rng)
    overlay = OverlayParams()
    rows = []
    for name, spec in STRATEGIES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DangerousStrategyWarning)
            params: Any = spec.params()
        state = spec.init_state(snap, params)
        decide(spec, snap, params, state, overlay)  # warm up
        reps, start = 0, time.perf_counter()
        while True:
            _, state = decide(spec, snap, params, state, overlay)
            reps += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds and reps >= 3:
                break
        rows.append((name, n * reps / elapsed))
    return rows


def bench_greeks(n: int) -> float:
    rng = np.random.default_rng(1)
    s = rng.uniform(50, 150, n)
    start = time.perf_counter()
    bs_greeks(s, 100.0, 0.5, 0.6, 0.02, 0.0, rng.random(n) < 0.5)
    return n / (time.perf_counter() - start)


SCENARIOS: dict[str, dict[str, Any]] = {
    "gbm, FLI 2x": {"kind": "gbm", "gen": GenParams()},
    "jump/crash, FLI 2x": {"kind": "jump", "gen": GenParams()},
    "jump/crash stress, 3x band": {
        "kind": "jump",
        "gen": GenParams(jump_rate=20.0, jump_mean=-0.15, crash_prob=0.002),
        "params": {"target_leverage": 3.0, "min_leverage": 2.5, "max_leverage": 3.5},
        "rules": VaultRules(target_leverage=3.0, max_leverage=3.6, ripcord_leverage=4.5, leverage_cap=6.0),
        "overlay": OverlayParams(shock=0.1, buffer=0.1),
    },
}


def bench_monte_carlo(scenario: dict[str, Any], paths: int, steps: int) -> dict[str, Any]:
    start = time.perf_counter()
    pp = generate(scenario["kind"], paths, steps, 1, scenario["gen"], seed=42)
    generated = time.perf_counter()
    spec = STRATEGIES["leverage_band"]
    params = spec.params(**scenario.get("params", {}))
    cfg = EngineConfig(overlay=scenario.get("overlay", OverlayParams()))
    market = MarketSettings().build(pp.prices[0, 0])
    result = simulate(pp, spec, params, scenario.get("rules", VaultRules()), market, cfg)
    done = time.perf_counter()
    s = summarize(result)
    return {
        "generate_s": generated - start,
        "simulate_s": done - generated,
        "total_s": done - start,
        "path_steps_per_s": paths * steps / (done - generated),
        "p_liq": s["p_liquidation"],
        "ci": s["p_liquidation_ci95"],
        "ripcords": s["ripcords"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vaults", type=int, default=10_000)
    ap.add_argument("--paths", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=1_000)
    args = ap.parse_args()

    print(f"## Strategy decisions ({args.vaults:,} vaults per call, strategy + overlay)\n")
    print("| strategy | 1 asset: steps/s | 3 assets: steps/s |")
    print("|---|---:|---:|")
    one = dict(bench_decisions(args.vaults, 1))
    three = dict(bench_decisions(args.vaults, 3))
    for name in one:
        flag = " (DANGEROUS)" if STRATEGIES[name].dangerous else ""
        print(f"| {name}{flag} | {one[name]:,.0f} | {three[name]:,.0f} |")
    print(f"\nBlack-Scholes price + 4 Greeks: {bench_greeks(1_000_000):,.0f} options/s (1,000,000 per call)\n")

    years = args.steps * GenParams().dt / SECONDS_PER_YEAR
    days = years * 365
    print(f"## Monte Carlo: leverage_band, {args.paths:,} paths x {args.steps:,} hourly steps ({days:.0f} days)\n")
    print("| scenario | generate s | simulate s | total s | path-steps/s | P(liquidation) | 95% CI | ripcords/path |")
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    for name, scenario in SCENARIOS.items():
        r = bench_monte_carlo(scenario, args.paths, args.steps)
        lo, hi = r["ci"]
        print(
            f"| {name} | {r['generate_s']:.2f} | {r['simulate_s']:.2f} | {r['total_s']:.2f} | "
            f"{r['path_steps_per_s']:,.0f} | {r['p_liq']:.2%} | [{lo:.2%}, {hi:.2%}] | {r['ripcords']:.2f} |"
        )


if __name__ == "__main__":
    main()
