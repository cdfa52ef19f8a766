"""Stale oracle (scenario `stale_rally`): a +25% rally leaves the vault below its band while the chunk cooldown still
holds the keeper back, then every feed goes silent for about two hours. Nothing may increase risk on prices the
vault cannot see: INVARIANTS.md E2E-8 and E2E-9 (docs/VAULT.md "Stale or broken oracle"), plus E2E-1 to 4 and 6.
"""

from __future__ import annotations

import io
from typing import Any

from keeper.chain.scenario_runner import Row
from keeper.scenarios import Step, get_scenario

from .kit import (
    STALE,
    WAD,
    assert_in_band,
    assert_keeper_txs_clean,
    assert_ledger_balances,
    assert_not_liquidated,
    assert_pro_rata,
    call_revert,
    holders,
    tx_revert,
)


def test_nothing_increases_risk_while_prices_are_stale(
    deployment: Any, vault: Any, market: Any, token: Any, governance: Any, keeper_signer: Any, second_keeper: Any,
    bystander: Any, accounts: Any, start_live: Any, make_runner: Any,
) -> None:
    eth = int(deployment.assets["ETH"]["id"])
    params = vault.params()
    vault.grantRole(vault.KEEPER_ROLE(), second_keeper, sender=governance)  # a KEEPER_ROLE account the test drives
    outsider = accounts[4]
    token.mint(outsider, 10_000 * 10**6, sender=governance)
    token.approve(vault, 2**256 - 1, sender=outsider)
    price_unavailable = ("PriceUnavailable", {"assetId": eth, "status": STALE})  # first vault asset, STALE

    log = io.StringIO()
    live = start_live(deployment, "keeper", keeper_signer.private_key, log=log)
    scenario = get_scenario("stale_rally")
    step_end_block: list[int] = []
    checked: list[int] = []

    def on_step(index: int, step: Step, row: Row) -> None:
        step_end_block.append(int(runner.chain.blocks.head.number))
        ticks = live.reports[-runner.keeper_ticks :]
        if row.prices_ok:
            return
        # E2E-8, keeper: every block of the step saw the vault as stale, planned nothing, sent nothing
        assert all(r.stale == [vault.address] and not r.planned and not r.submitted for r in ticks), ticks
        if checked:
            return
        checked.append(index)
        # E2E-8, vault: what docs/VAULT.md promises while a price of an open position is unusable
        action, reason, _ = vault.shouldRebalance()
        assert (int(action), int(reason)) == (0, 2), "E2E-8 shouldRebalance: NONE / PRICE_UNAVAILABLE"
        alice = runner.actors["alice"]
        for name in ("maxDeposit", "maxMint", "maxWithdraw", "maxRedeem"):
            assert int(getattr(vault, name)(alice)) == 0, f"E2E-8 {name} must be 0"
        state = vault.vaultState()
        assert int(vault.totalAssets()) == int(state.lastEquity) + int(token.balanceOf(vault)), "E2E-8 totalAssets"
        shares = int(vault.balanceOf(alice))
        previews = (("previewDeposit", 10**6), ("previewMint", 10**12), ("previewRedeem", shares), ("previewWithdraw", 10**6))
        for method, amount in previews:
            assert call_revert(vault, method, amount) == price_unavailable, f"E2E-8 {method}"
        # the risk-increasing rebalance (buy 1 ETH, vault below its band) from a KEEPER_ROLE account: mined, refused
        error, decoded, receipt = tx_revert(vault, "rebalance", [(eth, WAD, 0)], sender=second_keeper)
        assert (error, decoded) == price_unavailable, f"E2E-8 rebalance: {error} {decoded}"
        assert receipt.gas_used < 100_000
        for contract_call, sender in (
            (("deposit", 10**9, outsider), outsider),
            (("mint", 10**15, outsider), outsider),
            (("redeem", shares // 10, alice, alice), alice),
            (("withdraw", 10**9, alice, alice), alice),
            (("ripcord",), bystander),
        ):
            error, decoded, _ = tx_revert(vault, *contract_call, sender=sender)
            assert (error, decoded) == price_unavailable, f"E2E-8 {contract_call[0]}: {error} {decoded}"

    runner = make_runner(deployment, keeper_step=live.step, keeper_addresses=[live.address], on_step=on_step)
    summary = runner.run(scenario)
    rows = summary.rows[1:]  # one per step

    # the set-up did what it says: below the band after the rally, held by the chunk cooldown, then stale
    assert rows[0].prices_ok and rows[0].leverage * WAD < int(params.minLeverage)
    assert all(not r.planned for r in live.reports[runner.keeper_ticks : 2 * runner.keeper_ticks])
    stale_steps = [i for i, r in enumerate(rows) if not r.prices_ok]
    assert stale_steps == [1, 2, 3], stale_steps
    assert checked == [1]

    # E2E-8: no keeper transaction in any block of the outage
    first, last = step_end_block[stale_steps[0] - 1], step_end_block[stale_steps[-1]]
    during = [t for t in summary.keeper_tx_audit if first < t.block <= last]
    assert not during, f"E2E-8 keeper transactions while stale: {during}"
    # the depositors' own attempts during the outage were refused too, with the vault's error
    refused = [a for a in summary.user_actions if not a.ok]
    assert {(a.kind, a.who, a.step) for a in refused} == {("deposit", "bob", 2), ("withdraw", "alice", 2)}
    assert all(a.error.startswith("PriceUnavailable") and f"status={STALE}" in a.error for a in refused), refused
    # E2E-8: one ALERT per outage, naming the vault and both assets' STALE status
    alerts = [line for line in log.getvalue().splitlines() if "ALERT oracle_stale" in line]
    assert len(alerts) == 1, log.getvalue()
    assert vault.address in alerts[0] and f"{eth}:{STALE}" in alerts[0]

    # E2E-9: the lever-up the keeper held back lands in the first block with fresh prices, exits work again
    after = [t for t in summary.keeper_tx_audit if t.block > last]
    assert after, "E2E-9 the keeper did not resume after the outage"
    recovery_end = step_end_block[stale_steps[-1] + 1]
    assert after[0].block <= recovery_end
    levered = [e for e in vault.Rebalanced.range(after[0].block, after[0].block + 1)]
    assert len(levered) == 1 and int(levered[0].leverageAfter) > int(levered[0].leverageBefore)
    assert int(levered[0].leverageBefore) < int(params.minLeverage)
    after_outage = [a for a in summary.user_actions if a.step > stale_steps[-1]]
    assert {(a.kind, a.who) for a in after_outage} == {("withdraw", "alice"), ("deposit", "bob")}
    assert all(a.ok and a.assets > 0 and a.shares > 0 for a in after_outage), after_outage

    assert_not_liquidated(summary, market, vault)
    assert_in_band(summary, vault)
    assert_keeper_txs_clean(summary)
    assert_ledger_balances(market, token, vault, deployment.deploy_block)
    assert_pro_rata(vault, holders(runner), "end")
