"""Two keepers on the same vault (different signers, both KEEPER_ROLE, separate journals), stepping the same
blocks: INVARIANTS.md E2E-11.

Both keepers read block N and decide before anything they send is mined: Anvil's automine is off while they step,
then one block is mined. (With automine on, Anvil mines each transaction asynchronously and an eth_call pinned
to the head's block hash already sees the first keeper's transaction, so the second keeper would never plan the
race at all; that is an Anvil artefact, not what two keepers on a real network see.)

- Through the crash scenario: the same actions land as with one keeper; the second keeper's call is caught by its
  simulation at 'pending' (the first one's transaction is in the node's pool) and never sent.
- Two nodes with different pools (emulated: the first keeper's transaction is dropped from the pool while the
  second decides, then re-broadcast by the first keeper's executor): both transactions land in one block; one
  trades, the other is mined as a cheap revert with a benign error, recorded as NOOP, not as a failure.
"""

from __future__ import annotations

from typing import Any

from keeper.chain.lens import BENIGN_ERRORS
from keeper.executor import IntentStatus
from keeper.ops.breaker import BreakerMode
from keeper.scenarios import get_scenario

from .kit import WAD, assert_keeper_txs_clean, assert_not_liquidated

BENIGN_NAMES = tuple(sig.split("(")[0] for sig in BENIGN_ERRORS)


def _noops(live: Any) -> list[Any]:
    return [h for r in live.reports for h in r.submitted if h.status == IntentStatus.NOOP]


def test_two_keepers_through_the_crash_act_once(
    deployment: Any, vault: Any, market: Any, chain: Any, governance: Any, keeper_signer: Any, second_keeper: Any,
    start_live: Any, make_runner: Any,
) -> None:
    scenario = get_scenario("crash")
    # reference: one keeper
    snap = chain.snapshot()
    solo = start_live(deployment, "solo", keeper_signer.private_key)
    reference = make_runner(deployment, keeper_step=solo.step, keeper_addresses=[solo.address]).run(scenario)
    chain.restore(snap)

    vault.grantRole(vault.KEEPER_ROLE(), second_keeper, sender=governance)
    a = start_live(deployment, "keeper-a", keeper_signer.private_key)
    b = start_live(deployment, "keeper-b", second_keeper.private_key)
    assert a.address != b.address

    rpc = chain.provider.web3.provider

    def both(block: int) -> list[str]:
        first, second = (a, b) if block % 2 == 0 else (b, a)  # either may win a race
        rpc.make_request("evm_setAutomine", [False])
        try:
            notes: list[str] = first.step(block) + second.step(block)
        finally:
            rpc.make_request("evm_mine", [])
            rpc.make_request("evm_setAutomine", [True])
        return notes

    summary = make_runner(deployment, keeper_step=both, keeper_addresses=[a.address, b.address]).run(scenario)

    landed = sum(summary.actions.values())
    assert summary.actions == reference.actions, f"E2E-11 two keepers {summary.actions} != one keeper {reference.actions}"
    assert landed >= 3
    assert_keeper_txs_clean(summary)  # no reverted or no-op transaction: the loser never sent anything
    assert len(summary.keeper_tx_audit) == landed
    assert {t.sender for t in summary.keeper_tx_audit} == {a.address, b.address}, "each keeper should win some race"
    # every action was planned by both; the loser's simulation saw the winner's transaction and recorded a NOOP
    noops = _noops(a) + _noops(b)
    assert len(noops) == landed, f"E2E-11 {len(noops)} no-ops for {landed} actions: {noops}"
    assert all(h.tx_hash is None for h in noops), "E2E-11 a no-op was sent"
    assert all(any(name in (h.reason or "") for name in BENIGN_NAMES) for h in noops), [h.reason for h in noops]
    assert not [f for k in (a, b) for r in k.reports for f in r.failures], "E2E-11 a keeper recorded a failure"
    assert_not_liquidated(summary, market, vault)


def test_two_keepers_in_one_block_loser_reverts_cheaply(
    deployment: Any, vault: Any, token: Any, chain: Any, governance: Any, keeper_signer: Any, second_keeper: Any,
    accounts: Any, start_live: Any,
) -> None:
    vault.grantRole(vault.KEEPER_ROLE(), second_keeper, sender=governance)
    alice = accounts[6]
    token.mint(alice, 100_000 * 10**6, sender=governance)
    token.approve(vault, 2**256 - 1, sender=alice)
    vault.deposit(100_000 * 10**6, alice, sender=alice)  # no position yet: both keepers want to lever up
    a = start_live(deployment, "keeper-a", keeper_signer.private_key)
    b = start_live(deployment, "keeper-b", second_keeper.private_key)
    chain.mine()
    block = int(chain.blocks.head.number)
    rpc = chain.provider.web3.provider
    rpc.make_request("evm_setAutomine", [False])
    try:
        a.step(block)
        (first_tx,) = a.reports[-1].submitted
        assert first_tx.tx_hash, first_tx
        rpc.make_request("anvil_dropTransaction", [first_tx.tx_hash])  # b's node has not seen it
        b.step(block)
        (second_tx,) = b.reports[-1].submitted
        assert second_tx.tx_hash, f"b's simulation should not see a's transaction: {second_tx}"
        a.keeper.executor.poll(block)  # a's executor re-broadcasts its journalled bytes (not in the pool any more)
        rpc.make_request("evm_mine", [])
    finally:
        rpc.make_request("evm_setAutomine", [True])
    mined = int(chain.blocks.head.number)
    for _ in range(2):  # receipts, then the confirmation depth (1)
        chain.mine()
        for k in (a, b):
            k.step(int(chain.blocks.head.number))

    events = list(vault.Rebalanced.range(mined, mined + 1))
    assert len(events) == 1, f"E2E-11 {len(events)} Rebalanced in the race block"
    w3 = chain.provider.web3
    receipts = {h.tx_hash.lower(): w3.eth.get_transaction_receipt(h.tx_hash) for h in (first_tx, second_tx)}
    assert {int(r["blockNumber"]) for r in receipts.values()} == {mined}, "both transactions share the block"
    winner_hash = str(events[0].transaction_hash).lower()
    (loser,) = [h for h in (first_tx, second_tx) if h.tx_hash.lower() != winner_hash]
    lost, won = receipts[loser.tx_hash.lower()], receipts[winner_hash]
    assert int(lost["status"]) == 0 and int(won["status"]) == 1
    # cheap: the vault refuses at its timing check, after reading the account (cold market and oracle reads,
    # about 120k gas on Anvil) but before any trade (the winning lever-up: about 356k)
    assert int(lost["gasUsed"]) < 150_000 and int(lost["gasUsed"]) * 5 < int(won["gasUsed"]) * 2, (
        f"E2E-11 the lost race cost {lost['gasUsed']} gas, the winning call {won['gasUsed']}"
    )
    # the loser's executor replayed the revert, found a benign error and recorded a NOOP, not a failure
    loser_keeper = a if loser is first_tx else b
    final = loser_keeper.keeper.executor.handle(loser.intent_id)
    assert final.status == IntentStatus.NOOP, final
    assert final.reason and final.reason.startswith("another keeper acted first: RebalanceIntervalNotElapsed("), final.reason
    assert not [f for k in (a, b) for r in k.reports for f in r.failures], "E2E-11 a keeper recorded a failure"
    assert loser_keeper.keeper.breaker.mode == BreakerMode.CLOSED  # a lost race is not a failure of the keeper
    assert int(vault.accountView().leverage) >= int(vault.params().minLeverage)
