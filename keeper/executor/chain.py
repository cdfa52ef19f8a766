"""Read-only chain calls of the executor: simulate an intent, replay a mined revert, fetch a receipt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import BlockIdentifier, TxParams

from keeper.executor.broadcast import rpc_message
from keeper.executor.models import Intent
from keeper.executor.revert import DecodedRevert, ErrorDecoder


@dataclass(frozen=True)
class Receipt:
    block_number: int
    block_hash: str
    status: int  # 1 success, 0 reverted
    gas_used: int
    effective_gas_price: int  # wei


@dataclass(frozen=True)
class Simulation:
    gas: int  # estimate (or the fixed limit); 0 when reverted
    revert: DecodedRevert | None


class ChainCalls:
    def __init__(self, w3: Web3, sender: str, decoder: ErrorDecoder) -> None:
        self._w3 = w3
        self._sender = sender
        self._decoder = decoder

    def call_params(self, intent: Intent, gas_limit: int | None = None) -> TxParams:
        params: dict[str, Any] = {
            "from": self._sender,
            "to": intent.to,
            "data": "0x" + intent.data.hex(),
            "value": intent.value,
        }
        if gas_limit is not None:
            params["gas"] = gas_limit
        return cast(TxParams, params)

    def simulate(self, intent: Intent, at: BlockIdentifier, gas_limit: int | None = None) -> Simulation:
        """eth_call then estimate_gas at `at` ('pending' for new intents, 'latest' before a replacement)."""
        fixed = gas_limit or intent.gas_limit
        params = self.call_params(intent, fixed)
        try:
            self._w3.eth.call(params, at)
            gas = fixed or int(self._w3.eth.estimate_gas(params, at))
        except ContractLogicError as exc:
            return Simulation(0, self._decoder.from_exception(exc))
        except Web3RPCError as exc:
            return Simulation(0, DecodedRevert(None, rpc_message(exc), (), "0x"))
        return Simulation(gas, None)

    def replay(self, intent: Intent, gas_limit: int, receipt: Receipt) -> DecodedRevert:
        """Re-run a mined, reverted call on the state after its block to recover the error."""
        if receipt.gas_used >= gas_limit:
            return DecodedRevert(None, f"out of gas (used all {gas_limit})", (), "0x")
        try:
            self._w3.eth.call(self.call_params(intent, gas_limit), receipt.block_number)
        except ContractLogicError as exc:
            return self._decoder.from_exception(exc)
        except Web3RPCError as exc:
            return DecodedRevert(None, f"replay failed: {rpc_message(exc)}", (), "0x")
        return DecodedRevert(None, f"replay at block {receipt.block_number} did not revert", (), "0x")

    def receipt(self, tx_hash: str) -> Receipt | None:
        try:
            r = self._w3.eth.get_transaction_receipt(cast(Any, tx_hash))
        except TransactionNotFound:
            return None
        return Receipt(
            block_number=int(r["blockNumber"]),
            block_hash="0x" + bytes(r["blockHash"]).hex(),
            status=int(r["status"]),
            gas_used=int(r["gasUsed"]),
            effective_gas_price=int(r.get("effectiveGasPrice", 0)),
        )
