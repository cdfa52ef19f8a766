"""Journal: transitions, one intent per nonce, one in-flight intent per vault, durability across reopen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from keeper_testkit import RECIPIENT, VAULT_A, VAULT_B, transfer_intent

from keeper.executor import Intent, IntentStatus, InvalidIntent, Journal, JournalError, TxKind, TxStatus, VaultBusy, batch_intent
from keeper.executor.models import SignedTx


def signed(nonce: int, tag: str, kind: TxKind = TxKind.ACTION, max_fee: int = 100, prio: int = 10) -> SignedTx:
    return SignedTx(hash=f"0x{tag:0>64}", raw=bytes.fromhex(f"{tag:0>8}"), nonce=nonce, kind=kind, gas_limit=21_000, max_fee=max_fee, prio_fee=prio)


def test_open_locks_the_vault_and_stores_the_signed_bytes(journal: Journal) -> None:
    intent = transfer_intent(10)
    journal.open_intent(intent, signed(0, "a1"))
    record = journal.intent(intent.id)
    assert record is not None and record.status == IntentStatus.PENDING and record.nonce == 0
    assert record.intent == intent
    assert journal.busy_vaults() == {intent.vault: intent.id}
    (tx,) = journal.txs(intent.id)
    assert tx.status == TxStatus.SIGNED and tx.raw == bytes.fromhex("000000a1") and tx.sent_at is None
    assert [t.hash for t in journal.unacknowledged()] == [tx.hash]
    assert journal.next_nonce_floor() == 1


def test_one_in_flight_intent_per_vault_including_batches(journal: Journal) -> None:
    first = transfer_intent(10)
    journal.open_intent(first, signed(0, "a1"))
    with pytest.raises(VaultBusy, match=f"vault {first.vault}: intent {first.id} is still in flight"):
        journal.open_intent(transfer_intent(11), signed(1, "a2"))
    batch = batch_intent(RECIPIENT, b"\x01", (VAULT_B, VAULT_A), created_block=11)
    with pytest.raises(VaultBusy):
        journal.open_intent(batch, signed(1, "a3"))
    assert journal.intent(batch.id) is None  # nothing half-written
    with pytest.raises(JournalError, match="illegal transition signed -> final"):
        journal.finalize(first.id, IntentStatus.CONFIRMED, f"0x{'a1':0>64}")  # never mined
    journal.mark_mined(f"0x{'a1':0>64}", 11, "0xb11", 1, 21_000, 1)
    journal.finalize(first.id, IntentStatus.CONFIRMED, f"0x{'a1':0>64}")
    journal.open_intent(batch, signed(1, "a3"))
    assert set(journal.busy_vaults()) == {batch.vault, *batch.vaults} and len(batch.all_vaults) == 2


def test_never_two_intents_at_one_nonce(journal: Journal) -> None:
    journal.open_intent(transfer_intent(10), signed(5, "a1"))
    other = transfer_intent(10, vault=VAULT_B)
    with pytest.raises(JournalError, match="nonce 5: already held by intent"):
        journal.open_intent(other, signed(5, "b1"))
    first = journal.in_flight()[0]
    with pytest.raises(JournalError, match="tx nonce differs from its intent nonce"):
        journal.add_tx(first.id, signed(6, "a2"))


def test_replacement_marks_the_older_transaction_replaced(journal: Journal) -> None:
    intent = transfer_intent(10)
    journal.open_intent(intent, signed(0, "a1"))
    journal.mark_sent(f"0x{'a1':0>64}", block=10)
    journal.add_tx(intent.id, signed(0, "a2", max_fee=200, prio=20))
    journal.add_tx(intent.id, signed(0, "a3", kind=TxKind.CANCEL, max_fee=300, prio=30), IntentStatus.CANCELLING)
    statuses = [(t.kind, t.status) for t in journal.txs(intent.id)]
    assert statuses == [
        (TxKind.ACTION, TxStatus.REPLACED),
        (TxKind.ACTION, TxStatus.REPLACED),
        (TxKind.CANCEL, TxStatus.SIGNED),
    ]
    record = journal.intent(intent.id)
    assert record is not None and record.status == IntentStatus.CANCELLING


def test_mined_then_reorged_then_final(journal: Journal) -> None:
    intent = transfer_intent(10)
    h = f"0x{'a1':0>64}"
    journal.open_intent(intent, signed(0, "a1"))
    journal.mark_sent(h, 10)
    journal.mark_mined(h, 11, "0xblock11", 1, 21_000, 10)
    assert journal.intent(intent.id).status == IntentStatus.MINED  # type: ignore[union-attr]
    journal.unmine(h, "reorg")
    tx = journal.tx(h)
    assert tx is not None and tx.status == TxStatus.SENT and tx.receipt_block is None
    assert journal.intent(intent.id).status == IntentStatus.PENDING  # type: ignore[union-attr]
    journal.mark_mined(h, 12, "0xblock12", 1, 21_000, 10)
    journal.finalize(intent.id, IntentStatus.CONFIRMED, h, "landed")
    assert journal.tx(h).status == TxStatus.FINAL  # type: ignore[union-attr]
    assert journal.busy_vaults() == {} and journal.in_flight() == []


def test_illegal_transitions_are_refused(journal: Journal) -> None:
    intent = transfer_intent(10)
    h = f"0x{'a1':0>64}"
    journal.open_intent(intent, signed(0, "a1"))
    journal.finalize(intent.id, IntentStatus.DROPPED, None, "gone")
    with pytest.raises(JournalError, match=f"intent {intent.id}: illegal transition dropped -> confirmed"):
        journal.finalize(intent.id, IntentStatus.CONFIRMED, h)
    with pytest.raises(JournalError, match=f"tx {h}: illegal transition dropped -> sent"):
        journal.mark_sent(h, 11)
    with pytest.raises(JournalError, match="finalize needs a final status"):
        journal.finalize(intent.id, IntentStatus.PENDING, None)


def test_a_refused_intent_gives_its_nonce_back(journal: Journal) -> None:
    first = transfer_intent(10)
    journal.open_intent(first, signed(3, "a1"))
    journal.finalize(first.id, IntentStatus.REJECTED, None, "insufficient funds")
    record = journal.intent(first.id)
    assert record is not None and record.nonce is None and record.reason == "insufficient funds"
    journal.open_intent(transfer_intent(11), signed(3, "b1"))  # the nonce is free again


def test_record_final_without_a_transaction(journal: Journal) -> None:
    intent = transfer_intent(10)
    journal.record_final(intent, IntentStatus.NOOP, "another keeper acted first")
    record = journal.intent(intent.id)
    assert record is not None and record.status == IntentStatus.NOOP and journal.busy_vaults() == {}
    with pytest.raises(JournalError, match="only noop or rejected"):
        journal.record_final(transfer_intent(11), IntentStatus.CONFIRMED, "x")


def test_reopen_after_close_keeps_everything_and_uses_wal(journal_path: Path) -> None:
    j = Journal(journal_path)
    intent = Intent(vault=VAULT_A, kind="batch", to=RECIPIENT, data=b"\xde\xad", created_block=7, value=3, urgency=0.7, gas_limit=90_000, vaults=(VAULT_B,))
    j.open_intent(intent, signed(0, "a1"))
    j.close()
    again = Journal(journal_path)
    try:
        record = again.intent(intent.id)
        assert record is not None and record.intent == intent
        assert again.txs(intent.id)[0].raw == bytes.fromhex("000000a1")
    finally:
        again.close()
    with sqlite3.connect(journal_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_bind_refuses_a_journal_of_another_chain_or_signer(journal: Journal) -> None:
    journal.bind(31337, "0xAbC0000000000000000000000000000000000001")
    journal.bind(31337, "0xabc0000000000000000000000000000000000001")  # same signer, any case
    with pytest.raises(JournalError, match="written for chain_id 31337, now running with 1"):
        journal.bind(1, "0xabc0000000000000000000000000000000000001")
    with pytest.raises(JournalError, match="written for signer"):
        journal.bind(31337, "0xabc0000000000000000000000000000000000002")


def test_intent_ids_are_content_hashes() -> None:
    a, b = transfer_intent(10), transfer_intent(10)
    assert a.id == b.id and a.id != transfer_intent(11).id
    assert Intent(vault=VAULT_A, kind="k", to=RECIPIENT, data=b"", created_block=1, id="mine").id == "mine"
    with pytest.raises(InvalidIntent, match=r"^intent urgency: must be in \[0, 1\], got 2.0$"):
        transfer_intent(1, urgency=2.0)
