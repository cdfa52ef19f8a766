"""Nonces for one signer: read the chain once, then count locally; go back to the chain after errors.

The chain's 'pending' count alone is not enough: a transaction signed and journalled but not (yet) accepted by
the node, or evicted from its pool, is invisible to it. So every sync also takes a `floor` (the journal's next
free nonce) and hands out max(chain pending count, floor).
"""

from __future__ import annotations

from web3 import Web3


class NonceManager:
    def __init__(self, w3: Web3, address: str) -> None:
        self._w3 = w3
        self._address = Web3.to_checksum_address(address)
        self._next: int | None = None

    @property
    def next(self) -> int | None:
        """The nonce `reserve()` would hand out, or None before the first sync."""
        return self._next

    def chain_pending(self) -> int:
        return int(self._w3.eth.get_transaction_count(self._address, "pending"))

    def chain_latest(self) -> int:
        """Nonces below this are consumed by mined transactions."""
        return int(self._w3.eth.get_transaction_count(self._address, "latest"))

    def sync(self, floor: int = 0) -> int:
        """Re-read the chain; the next nonce becomes max(chain pending count, floor)."""
        self._next = max(self.chain_pending(), floor)
        return self._next

    def reconcile(self, floor: int = 0) -> int:
        """After "nonce too low" or a rejected send: forget the local count and trust the chain plus the journal."""
        return self.sync(floor)

    def reserve(self, floor: int = 0) -> int:
        if self._next is None:
            self.sync(floor)
        assert self._next is not None
        nonce = max(self._next, floor)
        self._next = nonce + 1
        return nonce

    def release(self, nonce: int) -> None:
        """Give back a reserved nonce that was never used; only the most recent one can be given back."""
        if self._next is not None and nonce == self._next - 1:
            self._next = nonce
