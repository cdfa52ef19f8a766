"""Signer balance watch: a gauge every check, an ALERT when the balance falls below the minimum (once, then
again every `realert_blocks` blocks while it stays low), and a recovery line when it is topped up."""

from __future__ import annotations

from web3 import Web3

from keeper.ops.logging import get_logger
from keeper.ops.metrics import KeeperMetrics

ETH = 10**18


class SignerBalanceWatch:
    def __init__(self, min_balance_wei: int, metrics: KeeperMetrics | None = None, realert_blocks: int = 300) -> None:
        if min_balance_wei < 0:
            raise ValueError(f"min_balance_wei: must be >= 0, got {min_balance_wei}")
        self._min = min_balance_wei
        self._metrics = metrics
        self._realert = realert_blocks
        self._alerted_at: int | None = None  # block of the last alert while low
        self._log = get_logger("keeper.balance")

    def check(self, balance_wei: int, block: int) -> bool:
        """Record `balance_wei` seen at `block`; True when it is below the minimum."""
        if self._metrics is not None:
            self._metrics.set_signer_balance(balance_wei)
        low = balance_wei < self._min
        if low and (self._alerted_at is None or block - self._alerted_at >= self._realert):
            self._alerted_at = block
            self._log.alert("signer_balance_low", balance_eth=balance_wei / ETH, min_eth=self._min / ETH, block=block)
        elif not low and self._alerted_at is not None:
            self._alerted_at = None
            self._log.event("signer_balance_ok", balance_eth=balance_wei / ETH, min_eth=self._min / ETH, block=block)
        return low

    def fetch_and_check(self, w3: Web3, address: str, block: int) -> bool:
        return self.check(int(w3.eth.get_balance(Web3.to_checksum_address(address), block)), block)
