"""Nonce manager against Anvil: one read, then local counting; floors from the journal; reconcile after errors."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from keeper_testkit import RECIPIENT, AnvilNode, CountingSigner, send_as
from web3 import Web3

from keeper.executor import NonceManager


def test_reads_the_chain_once_then_counts_locally(w3: Web3, keeper_signer: CountingSigner, node: AnvilNode) -> None:
    send_as(w3, keeper_signer.account, {"to": RECIPIENT, "value": 1, "gas": 21_000})
    nonces = NonceManager(w3, keeper_signer.address)
    assert nonces.next is None
    assert [nonces.reserve(), nonces.reserve(), nonces.reserve()] == [1, 2, 3]
    assert w3.eth.get_transaction_count(keeper_signer.address, "pending") == 1  # nothing was sent for 2 and 3


def test_pending_transactions_count_and_floor_wins(w3: Web3, keeper_signer: CountingSigner, node: AnvilNode) -> None:
    node.automine(False)
    send_as(w3, keeper_signer.account, {"to": RECIPIENT, "value": 1, "gas": 21_000})
    nonces = NonceManager(w3, keeper_signer.address)
    assert nonces.sync() == 1  # 'pending' includes the pool
    assert nonces.sync(floor=5) == 5  # the journal holds a nonce the node does not know about
    assert nonces.chain_latest() == 0


def test_release_gives_back_only_the_last_nonce(w3: Web3, keeper_signer: CountingSigner) -> None:
    nonces = NonceManager(w3, keeper_signer.address)
    a, b = nonces.reserve(), nonces.reserve()
    nonces.release(a)  # not the last one: ignored, b is out
    assert nonces.next == 2
    nonces.release(b)
    assert nonces.next == 1 and nonces.reserve() == 1


def test_reconcile_after_the_key_was_used_elsewhere(w3: Web3, keeper_signer: CountingSigner, rival: LocalAccount) -> None:
    nonces = NonceManager(w3, keeper_signer.address)
    assert nonces.reserve() == 0
    nonces.release(0)
    for _ in range(2):
        send_as(w3, keeper_signer.account, {"to": rival.address, "value": 1, "gas": 21_000})
    assert nonces.reserve() == 0  # stale local count ("nonce too low" at the node)
    assert nonces.reconcile() == 2 and nonces.reserve() == 2
