"""The keeper runs through a flash crash (scenario `crash`: -35% in three minutes) and through the whole demo
(rally, chop, crash, outage, recovery, deposits and exits): INVARIANTS.md E2E-1, 2, 3, 4, 5, 6."""

from __future__ import annotations

from typing import Any

from keeper.scenarios import get_scenario

from .kit import (
    assert_exits_fair,
    assert_in_band,
    assert_keeper_txs_clean,
    assert_ledger_balances,
    assert_not_liquidated,
    assert_pro_rata,
    holders,
)


def test_keeper_rides_the_flash_crash(
    deployment: Any, vault: Any, market: Any, token: Any, keeper_signer: Any, start_live: Any, make_runner: Any
) -> None:
    live = start_live(deployment, "keeper", keeper_signer.private_key)
    runner = make_runner(deployment, keeper_step=live.step, keeper_addresses=[live.address])
    summary = runner.run(get_scenario("crash"))

    assert_not_liquidated(summary, market, vault)
    assert_in_band(summary, vault)
    assert_keeper_txs_clean(summary)
    # the crash pushed leverage out of the band and the keeper brought it back (deleveraging, ripcord or both)
    peak = max(r.leverage for r in summary.rows)
    assert peak > summary.band[2], f"the crash never left the band (peak {peak:.2f}x): the scenario tests nothing"
    assert summary.actions["ripcord"] + summary.actions["rebalance"] >= 2
    cap = int(vault.params().leverageCap) / 1e18
    assert peak < cap, f"leverage reached {peak:.2f}x, above the {cap}x cap, with the keeper running"

    # depositors' value: alice is the only holder, so she holds all of totalAssets, and the ledger balances
    led = assert_ledger_balances(market, token, vault, deployment.deploy_block)
    assert_pro_rata(vault, holders(runner), "end")
    paid, value = summary.pnl["alice"]
    assert paid == 100_000
    assert abs(value * 10**6 - int(vault.totalAssets())) <= 1
    # -35% from 2x: never rebalancing ends at 100k * (1 - 2 * 0.35) = 30k, rebalancing to 2x continuously at
    # 100k * 0.65^2 = 42.25k; the keeper's delevering lands in between (minus fees, about 0.05% of what it traded)
    fees = led.fees / 10**6
    assert 30_000 - fees < value < 42_250, value
    # the ripcord pays its caller (here the keeper) the configured reward out of the vault
    assert led.rewards == summary.actions["ripcord"] * int(vault.params().ripcordReward)


def test_keeper_runs_the_demo(
    deployment: Any, vault: Any, market: Any, oracle: Any, token: Any, keeper_signer: Any, start_live: Any,
    make_runner: Any,
) -> None:
    live = start_live(deployment, "keeper", keeper_signer.private_key)
    runner = make_runner(deployment, keeper_step=live.step, keeper_addresses=[live.address])
    summary = runner.run(get_scenario("demo"))

    assert_not_liquidated(summary, market, vault)
    assert_in_band(summary, vault)
    assert_keeper_txs_clean(summary)
    assert_ledger_balances(market, token, vault, deployment.deploy_block)
    assert_pro_rata(vault, holders(runner), "end")

    done = [a for a in summary.user_actions if a.ok]
    refused = [a for a in summary.user_actions if not a.ok]
    # every scripted action lands: none of them falls inside the stale part of the outage
    assert not refused, f"refused depositor actions: {refused}"
    assert {(a.kind, a.who) for a in done} >= {("withdraw", "bob"), ("withdraw", "alice"), ("deposit", "carol"), ("deposit", "dave")}
    assert assert_exits_fair(summary, market, vault, oracle, deployment.assets, 10**12) == 2
    # the depositors' value adds up to what the vault holds plus what they took out
    total_value = sum(v for _, v in summary.pnl.values())
    withdrawn = sum(summary.withdrawn_units.values()) / 10**6
    assert abs(total_value - withdrawn - int(vault.totalAssets()) / 10**6) <= 4 / 10**6
