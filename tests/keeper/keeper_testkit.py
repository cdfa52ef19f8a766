"""Helpers for the executor and ops suites: a private Anvil process, a signature-counting signer, a provider
that loses send answers, and small chain utilities. Fixtures live in conftest.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.providers.rpc import HTTPProvider
from web3.types import RPCEndpoint, RPCResponse

from keeper.executor import FeeCaps, FeePolicy, Intent
from keeper.chain.anvil import AnvilNode, free_port  # noqa: F401 (re-exported to the tests)

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".build" / "__local__.json"
GWEI = 10**9

# Anvil's default dev keys (mnemonic "test test ... junk"), by role.
KEEPER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
RIVAL_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
OWNER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
VAULT_A = "0x00000000000000000000000000000000000a11ce"
VAULT_B = "0x0000000000000000000000000000000000000b0b"
RECIPIENT = "0x000000000000000000000000000000000000dEaD"


class CountingSigner:
    """Wraps a LocalAccount and counts signatures: the tests prove nothing is signed twice."""

    def __init__(self, account: LocalAccount) -> None:
        self.account = account
        self.signed: list[str] = []

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address

    def sign_transaction(self, transaction_dict: Any) -> SignedTransaction:
        signed = self.account.sign_transaction(transaction_dict)
        self.signed.append("0x" + bytes(signed.hash).hex())
        return signed


class FaultyProvider(HTTPProvider):
    """HTTP provider that can lose the node's answer to eth_sendRawTransaction.

    after_send: forward the request (the node gets the transaction), then raise a connection reset, as when a
                timeout hits after the node accepted. refuse: raise without forwarding (node unreachable).
    Each mode is a count of sends to sabotage; `sends` records every raw send that reached the node.
    """

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.after_send = 0
        self.refuse = 0
        self.sends: list[str] = []

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        if method != "eth_sendRawTransaction":
            return super().make_request(method, params)
        if self.refuse > 0:
            self.refuse -= 1
            raise requests.exceptions.ConnectionError("connection refused (injected)")
        self.sends.append(Web3.keccak(hexstr=params[0]).to_0x_hex())
        response = super().make_request(method, params)
        if self.after_send > 0:
            self.after_send -= 1
            raise requests.exceptions.ConnectionError("connection reset by peer after send (injected)")
        return response


def standard_fee_policy() -> FeePolicy:
    """The fee policy of every executor test: roomy caps, a 1 gwei tip floor so bumps are visible."""
    return FeePolicy(caps=FeeCaps(max_fee=1_000 * GWEI, prio_fee=50 * GWEI), min_priority_fee=1 * GWEI)


def transfer_intent(block: int, value: int = 12345, vault: str = VAULT_A, **kw: Any) -> Intent:
    """A plain ETH transfer dressed as a vault action: enough to exercise every executor path."""
    return Intent(vault=vault, kind="rebalance", to=RECIPIENT, data=b"", value=value, created_block=block, **kw)


def contract_type(name: str) -> dict[str, Any]:
    """ABI and bytecode from ape's compile output (run `make compile` / `ape compile` first)."""
    if not BUILD.is_file():
        raise FileNotFoundError(f"{BUILD} is missing: run `make compile` (ape compile) before this suite")
    types: dict[str, Any] = json.loads(BUILD.read_text())["contractTypes"]
    return dict(types[name])


def deploy(w3: Web3, deployer: LocalAccount, name: str, *args: Any) -> Any:
    ct = contract_type(name)
    factory = w3.eth.contract(abi=ct["abi"], bytecode=ct["deploymentBytecode"]["bytecode"])
    tx = factory.constructor(*args).build_transaction(
        {"from": deployer.address, "nonce": w3.eth.get_transaction_count(deployer.address, "pending")}
    )
    tx_hash = w3.eth.send_raw_transaction(deployer.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    return w3.eth.contract(address=receipt["contractAddress"], abi=ct["abi"])


def send_as(w3: Web3, account: LocalAccount, tx: dict[str, Any]) -> str:
    """Sign and send a transaction for a test actor (not the keeper), filling nonce, chain id and fees."""
    base = dict(tx)
    if "to" in base:
        base["to"] = Web3.to_checksum_address(base["to"])
    base.setdefault("from", account.address)
    base.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
    base.setdefault("chainId", w3.eth.chain_id)
    base.setdefault("maxFeePerGas", 100 * GWEI)
    base.setdefault("maxPriorityFeePerGas", 2 * GWEI)
    base.setdefault("gas", 200_000)
    return "0x" + bytes(w3.eth.send_raw_transaction(account.sign_transaction(base).raw_transaction)).hex()


def txs_at_nonce(w3: Web3, address: str, nonce: int, last_block: int | None = None) -> list[str]:
    """Hashes of every mined transaction from `address` with `nonce` (there must never be more than one)."""
    found = []
    last = w3.eth.block_number if last_block is None else last_block
    for number in range(0, last + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            assert not isinstance(tx, bytes)
            if tx["from"].lower() == address.lower() and tx["nonce"] == nonce:
                found.append("0x" + bytes(tx["hash"]).hex())
    return found


def balance(w3: Web3, address: str) -> int:
    return int(w3.eth.get_balance(Web3.to_checksum_address(address)))
