"""Deposits and exits between the chunks of a rebalance (scenario `chunked`, flat prices): a vault with a small
max_trade_notional (30,000 per keeper call) and a low minLeverage (0.5x), so the keeper's lever-up runs as a
rebalance plus a series of `iterate` calls, and depositors come and go in between. INVARIANTS.md E2E-2 to 6, 10.
"""

from __future__ import annotations

from typing import Any

from keeper.chain.scenario_runner import Row
from keeper.scenarios import Step, get_scenario

from .kit import (
    WAD,
    assert_exits_fair,
    assert_in_band,
    assert_keeper_txs_clean,
    assert_ledger_balances,
    assert_pro_rata,
    build_ledger,
    holders,
)

SCALE = 10**12  # WAD per token unit (6-decimal collateral)


def test_deposits_and_exits_between_chunks(
    add_vault: Any, project: Any, market: Any, oracle: Any, token: Any, keeper_signer: Any, start_live: Any,
    make_runner: Any,
) -> None:
    own = add_vault(min_leverage="0.5", max_trade_notional=30_000)
    vault = project.ScalingVault.at(own.vaults[0]["address"])
    assert int(vault.params().maxTradeNotional) == 30_000 * WAD
    scenario = get_scenario("chunked")
    prices = {int(a["id"]): int(scenario.start_prices[sym] * WAD) for sym, a in own.assets.items()}
    pro_rata_checks: list[int] = []

    def on_step(index: int, step: Step, row: Row) -> None:
        assert_pro_rata(vault, holders(runner), f"step {index}")
        pro_rata_checks.append(index)

    live = start_live(own, "keeper", keeper_signer.private_key)
    runner = make_runner(own, keeper_step=live.step, keeper_addresses=[live.address], on_step=on_step)
    summary = runner.run(scenario)
    assert pro_rata_checks == list(range(len(scenario.steps)))

    # the plan really ran in chunks, and the depositors acted while a chunk target was pending
    assert summary.actions["iterate"] >= 3, summary.actions
    chunks = list(vault.Rebalanced.range(own.deploy_block, int(runner.chain.blocks.head.number) + 1))
    assert all(int(e.tradedNotional) <= 30_000 * WAD + WAD for e in chunks), "a keeper call traded above maxTradeNotional"
    done = [a for a in summary.user_actions if a.ok]
    assert len(done) == 1 + sum(len(s.actions) for s in scenario.steps), [a for a in summary.user_actions if not a.ok]

    def pending_at(block: int) -> bool:
        before = [e for e in chunks if int(e.block_number) < block]
        return bool(before) and int(before[-1].pendingMask) != 0

    mid_plan = [a for a in done if a.step >= 0 and pending_at(a.after[2])]
    assert len(mid_plan) >= 3, f"only {len(mid_plan)} depositor actions landed while a chunk was pending"

    assert_in_band(summary, vault)
    assert_keeper_txs_clean(summary)
    assert assert_exits_fair(summary, market, vault, oracle, own.assets, SCALE) == 4
    led = assert_ledger_balances(market, token, vault, own.deploy_block)

    # E2E-10: with flat prices, the depositors' loss is the fees + price impact + funding the vault paid
    led = build_ledger(market, vault, own.deploy_block, prices)
    paid = sum(summary.paid_units.values())
    withdrawn = sum(summary.withdrawn_units.values())
    assert paid == led.deposited and withdrawn == led.exited
    held = sum(int(vault.convertToAssets(vault.balanceOf(a))) for a in runner.actors.values())
    accrued_wad = 0
    for asset_id, price in prices.items():
        pos = market.position(vault, asset_id)
        accrued_wad += int(pos.size) * (int(market.currentFundingIndex(asset_id, price)) - int(pos.lastFundingIndex)) // WAD
    costs_wad = led.fees * SCALE + led.impact_wad + led.funding * SCALE + accrued_wad
    loss = paid - withdrawn - held
    slack = led.trades + len(runner.actors) + 3  # per-trade PnL rounding, per-holder floors, totalAssets floor
    assert abs(loss * SCALE - costs_wad) <= slack * SCALE, (
        f"E2E-10 depositors lost {loss} units; fees {led.fees} + impact {led.impact_wad / SCALE:.1f} + funding "
        f"{led.funding} + accrued {accrued_wad / SCALE:.1f} = {costs_wad / SCALE:.1f}"
    )
    # and those costs are small: the market's 0.05% fee plus a little impact, on what was traded
    assert 0 < loss <= led.traded_wad // SCALE * 15 // 10_000, (loss, led.traded_wad // SCALE)
    for name, (paid_in, value) in summary.pnl.items():
        assert value >= paid_in * 0.997, f"{name}: {paid_in} -> {value}"
