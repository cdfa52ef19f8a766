"""Keeper down: it levers the vault up, then stops; both assets drop 30% within a minute (2x -> ~3.5x) and only a
bystander without any role acts, through the permissionless ripcord: INVARIANTS.md E2E-1, 3, 4, 6, 7."""

from __future__ import annotations

from typing import Any

from keeper.chain.scenario_runner import Row
from keeper.scenarios import Step, get_scenario

from .kit import (
    WAD,
    assert_keeper_txs_clean,
    assert_ledger_balances,
    assert_not_liquidated,
    assert_pro_rata,
    holders,
    tx_revert,
)

STOP_AFTER = 2  # the keeper handles the start and the two quiet steps


def test_bystander_pulls_the_ripcord_when_the_keeper_is_down(
    deployment: Any, vault: Any, market: Any, token: Any, keeper_signer: Any, bystander: Any, start_live: Any,
    make_runner: Any,
) -> None:
    assert not vault.hasRole(vault.KEEPER_ROLE(), bystander)
    params = vault.params()
    scenario = get_scenario("unattended_crash")
    crash_index = next(i for i, s in enumerate(scenario.steps) if s.phase.startswith("crash"))
    assert crash_index >= STOP_AFTER
    early: list[tuple[str, dict[str, Any]]] = []

    def on_step(index: int, step: Step, row: Row) -> None:
        if index == crash_index - 1:
            # keeper down, prices calm: the ripcord is not due, and the vault says so to anyone who tries
            name, args, _ = tx_revert(vault, "ripcord", sender=bystander)
            early.append((name, args))

    live = start_live(deployment, "keeper", keeper_signer.private_key)
    runner = make_runner(
        deployment, keeper_step=live.step, keeper_addresses=[live.address], stop_keeper_after=STOP_AFTER,
        ripcord_caller=bystander, on_step=on_step,
    )
    summary = runner.run(scenario)

    # the keeper worked until the stop (it levered the deposit up) and handled no block after it
    assert len(live.reports) == runner.keeper_ticks * (1 + STOP_AFTER)
    assert_keeper_txs_clean(summary)
    assert summary.actions["rebalance"] == len(summary.keeper_tx_audit) == 1

    # before the crash a ripcord is refused with the exact reason
    assert early and early[0][0] == "RipcordNotTriggered", early
    assert int(early[0][1]["ripcordLeverage"]) == int(params.ripcordLeverage)
    assert int(early[0][1]["leverage"]) < int(params.maxLeverage)

    # E2E-7: one ripcord, at the crash, by the bystander, paid exactly the event's reward, leverage back down
    assert len(summary.third_party_ripcords) == 1, summary.third_party_ripcords
    rip = summary.third_party_ripcords[0]
    assert rip.step == crash_index
    assert rip.caller == bystander.address
    assert rip.reward == int(params.ripcordReward) > 0, "E2E-7 the reward is the configured 10 tokens"
    assert rip.balance_delta == rip.reward, f"E2E-7 caller got {rip.balance_delta}, event says {rip.reward}"
    assert rip.leverage_before >= int(params.ripcordLeverage), "E2E-7 the ripcord fired below its trigger"
    assert rip.leverage_before > int(params.leverageCap)  # -30% at 2x: ~3.5x, the uncapped cut applies
    assert rip.leverage_after < rip.leverage_before
    crash_row = summary.rows[1 + crash_index]
    assert crash_row.leverage * WAD <= int(params.maxLeverage) * 1.01, "E2E-7 above the cap the ripcord cuts to maxLeverage"
    assert summary.actions["ripcord"] == 1
    # nothing else happened after it: still below the ripcord level, still nobody else trading
    assert all(r.leverage * WAD < int(params.ripcordLeverage) for r in summary.rows[2 + crash_index :])

    assert_not_liquidated(summary, market, vault)
    led = assert_ledger_balances(market, token, vault, deployment.deploy_block)
    assert led.rewards == rip.reward
    assert_pro_rata(vault, holders(runner), "end")
