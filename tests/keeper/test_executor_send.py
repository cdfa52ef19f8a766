"""Executor against a real Anvil: the happy path, simulation, send errors, stuck replacement, cancel, reorgs,
restarts and external nonce use. Every test counts signatures and mined transactions per nonce."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from keeper_testkit import (
    GWEI,
    RECIPIENT,
    VAULT_A,
    VAULT_B,
    AnvilNode,
    CountingSigner,
    FaultyProvider,
    balance,
    deploy,
    send_as,
    transfer_intent,
    txs_at_nonce,
)
from web3 import Web3

from keeper.executor import (
    BroadcastError,
    CannotCancel,
    ErrorDecoder,
    FeeCapExceeded,
    Executor,
    ExecutorError,
    FeeCaps,
    FeePolicy,
    Intent,
    IntentStatus,
    Journal,
    SimulationReverted,
    TxRejected,
    TxStatus,
    VaultBusy,
    batch_intent,
    error_selector,
)
from keeper.config import parse_config
from keeper.executor.factory import build_executor, fee_policy
from keeper.executor.fees import Fees, is_valid_replacement

MakeExecutor = Callable[..., Executor]
INSUFFICIENT_BALANCE = error_selector("ERC20InsufficientBalance(address,uint256,uint256)")


def kinds(events: list[Any]) -> list[str]:
    return [e.kind for e in events]


def advance(node: AnvilNode, ex: Executor, w3: Web3, blocks: int = 1) -> None:
    for _ in range(blocks):
        node.mine()
        ex.poll(w3.eth.block_number)


def test_submit_lands_once_and_is_final_at_depth(
    node: AnvilNode, w3: Web3, make_executor: MakeExecutor, keeper_signer: CountingSigner, events: list[Any]
) -> None:
    ex = make_executor(confirmations=3)
    before = balance(w3, RECIPIENT)
    handle = ex.submit(transfer_intent(w3.eth.block_number))
    assert handle.status == IntentStatus.PENDING and handle.nonce == 0 and handle.tx_hash == keeper_signer.signed[0]
    ex.poll(w3.eth.block_number)  # automine: included in this block, depth 1
    assert ex.handle(handle.intent_id).status == IntentStatus.MINED  # type: ignore[union-attr]
    advance(node, ex, w3)
    assert ex.handle(handle.intent_id).status == IntentStatus.MINED  # type: ignore[union-attr]
    advance(node, ex, w3)
    final = ex.handle(handle.intent_id)
    assert final is not None and final.status == IntentStatus.CONFIRMED and final.block_number == 1
    assert balance(w3, RECIPIENT) - before == 12345
    assert len(keeper_signer.signed) == 1 and txs_at_nonce(w3, ex.address, 0) == [handle.tx_hash]
    assert kinds(events) == ["sent", "mined", "confirmed"] and events[-1].gas_used == 21_000
    assert ex.busy_vaults() == {}


def test_submit_is_idempotent_and_one_intent_per_vault(
    w3: Web3, make_executor: MakeExecutor, keeper_signer: CountingSigner, node: AnvilNode
) -> None:
    node.automine(False)
    ex = make_executor()
    intent = transfer_intent(w3.eth.block_number)
    first = ex.submit(intent)
    assert ex.submit(intent) == first  # the same block planned twice changes nothing
    with pytest.raises(VaultBusy, match=f"vault {intent.vault}: intent {intent.id} is still in flight"):
        ex.submit(transfer_intent(w3.eth.block_number, value=1))
    other = ex.submit(transfer_intent(w3.eth.block_number, vault=VAULT_B))
    assert (first.nonce, other.nonce) == (0, 1) and len(keeper_signer.signed) == 2
    assert [h.intent_id for h in ex.in_flight()] == [intent.id, other.intent_id]


def test_simulation_revert_is_decoded_and_nothing_is_signed(
    w3: Web3, make_executor: MakeExecutor, keeper_signer: CountingSigner, owner: LocalAccount, events: list[Any]
) -> None:
    token = deploy(w3, owner, "MockERC20", "Token", "TKN", 18)
    ex = make_executor(decoder=ErrorDecoder([token.abi]))
    data = bytes.fromhex(token.encode_abi("transfer", args=[RECIPIENT, 5])[2:])
    intent = Intent(vault=VAULT_A, kind="rebalance", to=token.address, data=data, created_block=w3.eth.block_number)
    with pytest.raises(SimulationReverted) as err:
        ex.submit(intent)
    assert err.value.selector == INSUFFICIENT_BALANCE
    assert str(err.value) == (
        f"intent {intent.id}: simulation reverted: ERC20InsufficientBalance({ex.address}, 0, 5) [{INSUFFICIENT_BALANCE}]"
    )
    assert keeper_signer.signed == [] and w3.eth.get_transaction_count(ex.address) == 0
    record = ex.handle(intent.id)
    assert record is not None and record.status == IntentStatus.REJECTED and ex.busy_vaults() == {}
    assert kinds(events) == ["simulation_reverted"]


def test_benign_simulation_revert_is_a_noop_not_a_failure(
    w3: Web3, make_executor: MakeExecutor, keeper_signer: CountingSigner, owner: LocalAccount
) -> None:
    token = deploy(w3, owner, "MockERC20", "Token", "TKN", 18)
    ex = make_executor(is_benign=lambda selector: selector == INSUFFICIENT_BALANCE)
    data = bytes.fromhex(token.encode_abi("transfer", args=[RECIPIENT, 5])[2:])
    handle = ex.submit(Intent(vault=VAULT_A, kind="rebalance", to=token.address, data=data, created_block=1))
    assert handle.status == IntentStatus.NOOP and handle.reason is not None and INSUFFICIENT_BALANCE in handle.reason
    assert keeper_signer.signed == []


@pytest.mark.parametrize("benign", [True, False], ids=["rival-acted-first", "real-failure"])
def test_onchain_revert_replayed_benign_is_noop(
    benign: bool,
    node: AnvilNode,
    w3: Web3,
    make_executor: MakeExecutor,
    owner: LocalAccount,
    rival: LocalAccount,
    events: list[Any],
) -> None:
    """The keeper's transferFrom passes simulation; a rival's transfer lands first in the same block."""
    token = deploy(w3, owner, "MockERC20", "Token", "TKN", 18)
    send_as(w3, owner, {"to": token.address, "data": token.encode_abi("mint", args=[owner.address, 100])})
    ex = make_executor(
        confirmations=1,
        decoder=ErrorDecoder([token.abi]),
        is_benign=(lambda s: s == INSUFFICIENT_BALANCE) if benign else (lambda s: False),
    )
    send_as(w3, owner, {"to": token.address, "data": token.encode_abi("approve", args=[ex.address, 100])})
    node.automine(False)
    pull = bytes.fromhex(token.encode_abi("transferFrom", args=[owner.address, RECIPIENT, 100])[2:])
    handle = ex.submit(Intent(vault=VAULT_A, kind="rebalance", to=token.address, data=pull, created_block=1, gas_limit=120_000))
    # The owner (acting as another keeper) moves the tokens first with a higher tip: same block, earlier slot.
    send_as(w3, owner, {"to": token.address, "data": token.encode_abi("transfer", args=[rival.address, 100]), "maxPriorityFeePerGas": 40 * GWEI})
    node.mine()
    ex.poll(w3.eth.block_number)
    final = ex.handle(handle.intent_id)
    assert final is not None
    if benign:
        assert final.status == IntentStatus.NOOP and "another keeper acted first" in (final.reason or "")
        assert "noop" in kinds(events)
    else:
        assert final.status == IntentStatus.REVERTED
        assert final.reason == f"reverted on-chain: ERC20InsufficientBalance({owner.address}, 0, 100) [{INSUFFICIENT_BALANCE}]"
        assert "reverted" in kinds(events)


def test_lost_send_answer_resends_the_same_bytes_and_signs_once(
    w3: Web3, provider: FaultyProvider, make_executor: MakeExecutor, keeper_signer: CountingSigner, node: AnvilNode
) -> None:
    ex = make_executor(confirmations=1)
    provider.after_send = 1  # the node gets the transaction, the keeper sees a connection reset
    handle = ex.submit(transfer_intent(w3.eth.block_number))
    assert len(keeper_signer.signed) == 1
    assert provider.sends == [handle.tx_hash, handle.tx_hash]  # immediate retry, byte for byte
    advance(node, ex, w3)
    assert ex.handle(handle.intent_id).status == IntentStatus.CONFIRMED  # type: ignore[union-attr]
    assert txs_at_nonce(w3, ex.address, 0) == [handle.tx_hash]


def test_unreachable_node_blocks_new_signatures_until_the_same_bytes_are_acknowledged(
    w3: Web3, provider: FaultyProvider, make_executor: MakeExecutor, keeper_signer: CountingSigner, node: AnvilNode, journal: Journal
) -> None:
    ex = make_executor(confirmations=1)
    node.automine(False)
    provider.refuse = 2  # first send and its immediate retry both fail
    handle = ex.submit(transfer_intent(w3.eth.block_number))
    assert handle.status == IntentStatus.PENDING and journal.unacknowledged()[0].hash == handle.tx_hash
    provider.refuse = 1
    with pytest.raises(BroadcastError, match="1 signed transaction\\(s\\) still unacknowledged"):
        ex.submit(transfer_intent(w3.eth.block_number, vault=VAULT_B))
    assert len(keeper_signer.signed) == 1  # nothing new was signed while the first one was unacknowledged
    second = ex.submit(transfer_intent(w3.eth.block_number, vault=VAULT_B))  # node back: flush, then sign
    assert provider.sends[:2] == [handle.tx_hash, second.tx_hash]
    node.mine()
    ex.poll(w3.eth.block_number)
    assert [ex.handle(h.intent_id).status for h in (handle, second)] == [IntentStatus.CONFIRMED] * 2  # type: ignore[union-attr]
    assert txs_at_nonce(w3, ex.address, 0) == [handle.tx_hash] and len(keeper_signer.signed) == 2


def test_stuck_transaction_is_replaced_at_the_same_nonce(
    node: AnvilNode, w3: Web3, make_executor: MakeExecutor, keeper_signer: CountingSigner, journal: Journal, events: list[Any]
) -> None:
    ex = make_executor(confirmations=1, stuck_blocks=3)
    node.automine(False)
    handle = ex.submit(transfer_intent(w3.eth.block_number, urgency=0.0))
    first = journal.txs(handle.intent_id)[0]
    node.rpc("anvil_setNextBlockBaseFeePerGas", hex(50 * GWEI))  # base fee spike: our max fee is now too low
    advance(node, ex, w3, blocks=2)
    assert len(keeper_signer.signed) == 1  # not stuck for long enough yet
    advance(node, ex, w3)  # third block without inclusion: replaced
    assert len(keeper_signer.signed) == 2 and "replaced" in kinds(events)
    assert ex.poll(w3.eth.block_number) == [] and len(keeper_signer.signed) == 2  # same block again: no-op
    old, new = journal.txs(handle.intent_id)
    assert new.nonce == old.nonce == 0 and old.status == TxStatus.REPLACED
    assert is_valid_replacement(Fees(old.max_fee, old.prio_fee), Fees(new.max_fee, new.prio_fee))
    advance(node, ex, w3)
    final = ex.handle(handle.intent_id)
    assert final is not None and final.status == IntentStatus.CONFIRMED and final.tx_hash == new.hash
    assert txs_at_nonce(w3, ex.address, 0) == [new.hash] and first.hash != new.hash
    assert journal.tx(first.hash).status == TxStatus.DROPPED  # type: ignore[union-attr]


def test_fee_cap_blocking_a_replacement_alerts_and_signs_nothing(
    node: AnvilNode, w3: Web3, make_executor: MakeExecutor, keeper_signer: CountingSigner, events: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    tight = FeePolicy(caps=FeeCaps(max_fee=4 * GWEI, prio_fee=1 * GWEI), min_priority_fee=1 * GWEI)
    ex = make_executor(confirmations=1, stuck_blocks=1, fee_policy=tight)
    node.automine(False)
    ex.submit(transfer_intent(w3.eth.block_number))
    node.rpc("anvil_setNextBlockBaseFeePerGas", hex(50 * GWEI))
    with caplog.at_level("WARNING", logger="keeper"):
        advance(node, ex, w3, blocks=3)
    assert len(keeper_signer.signed) == 1 and kinds(events).count("replacement_blocked") == 1  # alerted once
    alerts = [r for r in caplog.records if getattr(r, "alert", False)]
    assert [r.getMessage() for r in alerts] == ["replacement_blocked_by_fee_cap"]
    assert "above the cap 1 gwei" in alerts[0].fields["reason"]  # type: ignore[attr-defined]
    intent_id = next(iter(ex.busy_vaults().values()))
    with pytest.raises(FeeCapExceeded, match=f"^intent {intent_id}: cannot cancel: replacement needs max priority fee"):
        ex.cancel(intent_id)
    assert len(keeper_signer.signed) == 1


def test_cancel_takes_the_nonce_with_a_self_transfer(
    node: AnvilNode, w3: Web3, make_executor: MakeExecutor, keeper_signer: CountingSigner, journal: Journal, events: list[Any]
) -> None:
    ex = make_executor(confirmations=2)
    node.automine(False)
    before = balance(w3, RECIPIENT)
    handle = ex.submit(transfer_intent(w3.eth.block_number))
    cancelling = ex.cancel(handle.intent_id)
    assert cancelling.status == IntentStatus.CANCELLING and ex.cancel(handle.intent_id) == cancelling
    action, cancel = journal.txs(handle.intent_id)
    assert cancel.kind.value == "cancel" and cancel.nonce == action.nonce
    assert is_valid_replacement(Fees(action.max_fee, action.prio_fee), Fees(cancel.max_fee, cancel.prio_fee))
    advance(node, ex, w3, blocks=2)
    final = ex.handle(handle.intent_id)
    assert final is not None and final.status == IntentStatus.CANCELLED and final.tx_hash == cancel.hash
    assert balance(w3, RECIPIENT) == before and txs_at_nonce(w3, ex.address, 0) == [cancel.hash]
    assert len(keeper_signer.signed) == 2 and kinds(events)[-1] == "cancelled"
    with pytest.raises(CannotCancel, match="already cancelled"):
        ex.cancel(handle.intent_id)


def test_reorg_puts_the_transaction_back_and_it_lands_once(
    node: AnvilNode, w3: Web3, make_executor: MakeExecutor, keeper_signer: CountingSigner, events: list[Any]
) -> None:
    ex = make_executor(confirmations=3)
    node.automine(False)
    before = balance(w3, RECIPIENT)
    handle = ex.submit(transfer_intent(w3.eth.block_number))
    advance(node, ex, w3)
    mined = ex.handle(handle.intent_id)
    assert mined is not None and mined.status == IntentStatus.MINED and mined.block_number == 1
    node.rpc("anvil_reorg", 1, [])  # block 1 is replaced by an empty one; the transaction is gone
    assert balance(w3, RECIPIENT) == before
    ex.poll(w3.eth.block_number)
    back = ex.handle(handle.intent_id)
    assert back is not None and back.status == IntentStatus.PENDING and back.block_number is None
    assert kinds(events)[-2:] == ["reorged", "resent"]  # the same bytes went back to the node
    advance(node, ex, w3, blocks=3)
    final = ex.handle(handle.intent_id)
    assert final is not None and final.status == IntentStatus.CONFIRMED and final.block_number == 2
    assert balance(w3, RECIPIENT) - before == 12345  # executed exactly once
    assert txs_at_nonce(w3, ex.address, 0) == [handle.tx_hash] and len(keeper_signer.signed) == 1


def test_reorg_that_reincludes_the_transaction_is_adopted(
    node: AnvilNode, w3: Web3, make_executor: MakeExecutor, keeper_signer: CountingSigner, journal: Journal
) -> None:
    ex = make_executor(confirmations=3)
    node.automine(False)
    handle = ex.submit(transfer_intent(w3.eth.block_number))
    advance(node, ex, w3)
    old_hash = journal.tx(handle.tx_hash).receipt_block_hash  # type: ignore[arg-type,union-attr]
    node.rpc("anvil_reorg", 1, [])
    raw = journal.txs(handle.intent_id)[0].raw
    w3.eth.send_raw_transaction(raw)  # another node's mempool still had it: re-included on the new branch
    node.mine()
    ex.poll(w3.eth.block_number)
    tx = journal.tx(handle.tx_hash)  # type: ignore[arg-type]
    assert tx is not None and tx.status == TxStatus.MINED and tx.receipt_block == 2 and tx.receipt_block_hash != old_hash
    advance(node, ex, w3, blocks=2)
    assert ex.handle(handle.intent_id).status == IntentStatus.CONFIRMED  # type: ignore[union-attr]
    assert len(keeper_signer.signed) == 1


def test_restart_adopts_the_pending_transaction_instead_of_duplicating(
    node: AnvilNode, w3: Web3, make_executor: MakeExecutor, keeper_signer: CountingSigner, journal_path: Any, fee_policy: FeePolicy
) -> None:
    node.automine(False)
    first = make_executor(confirmations=1)
    intent = transfer_intent(w3.eth.block_number)
    handle = first.submit(intent)
    restarted_signer = CountingSigner(keeper_signer.account)
    journal2 = Journal(journal_path)
    try:
        second = Executor(w3, restarted_signer, journal2, fee_policy, confirmations=1)
        recovered = second.recover()
        assert [h.intent_id for h in recovered] == [intent.id] and recovered[0].status == IntentStatus.PENDING
        assert second.submit(intent).intent_id == intent.id  # the planner re-submits after restart: no-op
        with pytest.raises(VaultBusy):
            second.submit(transfer_intent(w3.eth.block_number, value=7))
        node.mine()
        second.poll(w3.eth.block_number)
        assert second.handle(intent.id).status == IntentStatus.CONFIRMED  # type: ignore[union-attr]
        assert restarted_signer.signed == [] and txs_at_nonce(w3, second.address, 0) == [handle.tx_hash]
        nxt = second.submit(transfer_intent(w3.eth.block_number, value=8))
        assert nxt.nonce == 1
    finally:
        journal2.close()


def test_recover_cancels_what_the_planner_calls_obsolete(
    node: AnvilNode, w3: Web3, make_executor: MakeExecutor, journal: Journal
) -> None:
    node.automine(False)
    ex = make_executor(confirmations=1)
    handle = ex.submit(transfer_intent(w3.eth.block_number))
    again = make_executor(confirmations=1)
    again.recover(is_obsolete=lambda intent: intent.id == handle.intent_id)
    assert ex.handle(handle.intent_id).status == IntentStatus.CANCELLING  # type: ignore[union-attr]
    node.mine()
    again.poll(w3.eth.block_number)
    assert again.handle(handle.intent_id).status == IntentStatus.CANCELLED  # type: ignore[union-attr]


def test_nonce_used_outside_the_executor_is_reconciled(
    node: AnvilNode, w3: Web3, make_executor: MakeExecutor, keeper_signer: CountingSigner, events: list[Any]
) -> None:
    ex = make_executor(confirmations=1)
    ex.submit(transfer_intent(w3.eth.block_number))  # nonce 0; the local count is now 1
    send_as(w3, keeper_signer.account, {"to": RECIPIENT, "value": 1, "gas": 21_000})  # same key, nonce 1, elsewhere
    handle = ex.submit(transfer_intent(w3.eth.block_number, vault=VAULT_B))
    assert handle.nonce == 2 and "nonce_moved" in kinds(events)
    advance(node, ex, w3)
    assert ex.handle(handle.intent_id).status == IntentStatus.CONFIRMED  # type: ignore[union-attr]


def test_pending_nonce_taken_by_a_foreign_transaction_is_dropped_with_an_alert(
    node: AnvilNode, w3: Web3, make_executor: MakeExecutor, keeper_signer: CountingSigner, caplog: pytest.LogCaptureFixture
) -> None:
    node.automine(False)
    ex = make_executor(confirmations=1)
    handle = ex.submit(transfer_intent(w3.eth.block_number))
    send_as(w3, keeper_signer.account, {"to": VAULT_B, "value": 1, "gas": 21_000, "nonce": 0, "maxFeePerGas": 500 * GWEI, "maxPriorityFeePerGas": 45 * GWEI})
    node.mine()
    with caplog.at_level("WARNING", logger="keeper"):
        ex.poll(w3.eth.block_number)
    final = ex.handle(handle.intent_id)
    assert final is not None and final.status == IntentStatus.DROPPED and ex.busy_vaults() == {}
    assert any(getattr(r, "alert", False) and r.getMessage() == "nonce_consumed_externally" for r in caplog.records)


def test_batch_intent_locks_every_vault_and_lands_as_one_transaction(
    node: AnvilNode, w3: Web3, make_executor: MakeExecutor, owner: LocalAccount
) -> None:
    token = deploy(w3, owner, "MockERC20", "Token", "TKN", 18)
    ex = make_executor(confirmations=1)
    node.automine(False)
    calldata = bytes.fromhex(token.encode_abi("mint", args=[RECIPIENT, 7])[2:])  # stands in for a multicall
    handle = ex.submit(batch_intent(token.address, calldata, (VAULT_A, VAULT_B), created_block=w3.eth.block_number))
    assert set(ex.busy_vaults()) == {Web3.to_checksum_address(VAULT_A), Web3.to_checksum_address(VAULT_B)}
    with pytest.raises(VaultBusy):
        ex.submit(transfer_intent(w3.eth.block_number, vault=VAULT_B))
    advance(node, ex, w3)
    assert ex.handle(handle.intent_id).status == IntentStatus.CONFIRMED  # type: ignore[union-attr]
    assert token.functions.balanceOf(RECIPIENT).call() == 7 and ex.busy_vaults() == {}


def test_dry_run_simulates_and_prices_but_signs_and_journals_nothing(
    w3: Web3, make_executor: MakeExecutor, keeper_signer: CountingSigner, journal: Journal, events: list[Any]
) -> None:
    ex = make_executor(dry_run=True)
    handle = ex.submit(transfer_intent(w3.eth.block_number))
    assert handle.status == IntentStatus.DRY_RUN and keeper_signer.signed == []
    assert journal.intents() == [] and kinds(events) == ["dry_run"]


def test_stuck_action_that_would_now_revert_is_cancelled_not_replaced(
    node: AnvilNode, w3: Web3, make_executor: MakeExecutor, owner: LocalAccount, rival: LocalAccount, journal: Journal
) -> None:
    token = deploy(w3, owner, "MockERC20", "Token", "TKN", 18)
    send_as(w3, owner, {"to": token.address, "data": token.encode_abi("mint", args=[owner.address, 100])})
    ex = make_executor(confirmations=1, stuck_blocks=2, decoder=ErrorDecoder([token.abi]))
    send_as(w3, owner, {"to": token.address, "data": token.encode_abi("approve", args=[ex.address, 100])})
    node.automine(False)
    pull = bytes.fromhex(token.encode_abi("transferFrom", args=[owner.address, RECIPIENT, 100])[2:])
    handle = ex.submit(Intent(vault=VAULT_A, kind="rebalance", to=token.address, data=pull, created_block=1, gas_limit=120_000))
    node.rpc("anvil_setNextBlockBaseFeePerGas", hex(50 * GWEI))  # ours is priced out; the owner's is not
    send_as(w3, owner, {"to": token.address, "data": token.encode_abi("transfer", args=[rival.address, 100])})
    advance(node, ex, w3, blocks=2)
    action, cancel = journal.txs(handle.intent_id)
    assert cancel.kind.value == "cancel" and cancel.nonce == action.nonce
    assert ex.handle(handle.intent_id).status == IntentStatus.CANCELLING  # type: ignore[union-attr]
    advance(node, ex, w3)
    final = ex.handle(handle.intent_id)
    assert final is not None and final.status == IntentStatus.CANCELLED and final.tx_hash == cancel.hash
    assert txs_at_nonce(w3, ex.address, 0) == [cancel.hash]


def test_node_refusal_releases_the_nonce(
    node: AnvilNode, w3: Web3, make_executor: MakeExecutor, keeper_signer: CountingSigner, events: list[Any]
) -> None:
    node.rpc("anvil_setBalance", keeper_signer.address, hex(12_345 + 1_000))  # the value, not the gas
    ex = make_executor(confirmations=1)
    intent = transfer_intent(w3.eth.block_number)
    with pytest.raises(TxRejected, match=f"intent {intent.id} nonce 0: node refused the transaction: .*funds"):
        ex.submit(intent)
    refused = ex.handle(intent.id)
    assert refused is not None and refused.status == IntentStatus.REJECTED and refused.nonce is None
    assert ex.busy_vaults() == {} and "rejected" in kinds(events)
    node.rpc("anvil_setBalance", keeper_signer.address, hex(10**18))
    retry = ex.submit(transfer_intent(w3.eth.block_number, value=54321))
    assert retry.nonce == 0  # the refused nonce was given back, no gap
    advance(node, ex, w3)
    assert ex.handle(retry.intent_id).status == IntentStatus.CONFIRMED  # type: ignore[union-attr]


def test_a_failing_listener_does_not_stop_the_transaction(
    w3: Web3, make_executor: MakeExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: Any) -> None:
        raise RuntimeError("metrics exploded")

    ex = make_executor(listener=broken, confirmations=1)
    with caplog.at_level("ERROR", logger="keeper"):
        handle = ex.submit(transfer_intent(w3.eth.block_number))
    assert handle.status == IntentStatus.PENDING and w3.eth.get_transaction_count(ex.address) == 1
    assert [r.getMessage() for r in caplog.records] == ["listener_failed"]


def test_build_executor_from_config_maps_units_and_checks_the_chain_id(
    node: AnvilNode, w3: Web3, keeper_signer: CountingSigner, journal: Journal
) -> None:
    raw = {
        "rpc_url": node.url,
        "chain_id": node.chain_id,
        "vaults": [VAULT_A],
        "executor": {"max_fee_gwei": 80, "max_priority_fee_gwei": 2.5, "base_fee_multiplier_max": 2, "confirmations": 1},
    }
    cfg = parse_config(raw, {"KEEPER_PRIVATE_KEY": "0x" + bytes(keeper_signer.account.key).hex()})
    policy = fee_policy(cfg.executor)
    assert policy.caps == FeeCaps(max_fee=80 * GWEI, prio_fee=5 * GWEI // 2)
    assert (policy.base_fee_multiplier_min_bps, policy.base_fee_multiplier_max_bps) == (15_000, 20_000)
    assert policy.min_priority_fee == GWEI // 100
    ex = build_executor(cfg, w3, keeper_signer, journal=journal)
    handle = ex.submit(transfer_intent(w3.eth.block_number))
    ex.poll(w3.eth.block_number)
    assert ex.handle(handle.intent_id).status == IntentStatus.CONFIRMED  # type: ignore[union-attr]
    wrong = parse_config({**raw, "chain_id": 1}, {"KEEPER_PRIVATE_KEY": "0x" + bytes(keeper_signer.account.key).hex()})
    with pytest.raises(ExecutorError, match=f"^chain_id: config says 1, the node at the RPC URL says {node.chain_id}$"):
        build_executor(wrong, w3, keeper_signer, journal=journal)
