"""EIP-1559 fees: a pure quote over `eth_feeHistory` data, the 12.5% replacement bump, and a thin fetch.

All fees are integers in wei per gas. `urgency` is in [0, 1] (0 = routine, 1 = close to liquidation).

quote_fees(history, urgency, policy):
    reward(p)   = median, over the non-empty blocks of the window, of the p-th percentile priority fee
    prio        = reward interpolated over the policy's (low, mid, high) percentiles: urgency 0 -> low,
                  0.5 -> mid, 1 -> high; then at least `min_priority_fee`, at most the priority cap
    headroom    = base_fee_multiplier_min + (max - min) * urgency   (multiplier on the next block's base fee)
    max_fee     = ceil(next_base_fee * headroom) + prio, at most the max-fee cap (and never below prio)
The headroom keeps a transaction includable while the base fee rises (+12.5% per full block): 2x survives
about six full blocks. An urgent de-lever buys more headroom and a higher percentile; it never pays more than
the caps.

bump_fees(previous, floor, caps): a replacement at the same nonce raises BOTH fields by at least 12.5%
(geth needs 10% on both; pymaker used 1.125x) and to at least the fresh quote `floor`. When a cap forbids that,
`FeeCapExceeded` says which field and by how much, so the operator gets an alert instead of a silent stall.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from web3 import Web3

from keeper.executor.errors import FeeCapExceeded

BPS = 10_000
GWEI = 10**9


@dataclass(frozen=True)
class Fees:
    max_fee: int  # maxFeePerGas, wei
    prio_fee: int  # maxPriorityFeePerGas, wei

    def tx_fields(self) -> dict[str, int]:
        return {"maxFeePerGas": self.max_fee, "maxPriorityFeePerGas": self.prio_fee}


@dataclass(frozen=True)
class FeeCaps:
    max_fee: int  # hard cap on maxFeePerGas, wei
    prio_fee: int  # hard cap on maxPriorityFeePerGas, wei

    def __post_init__(self) -> None:
        if self.max_fee <= 0 or self.prio_fee <= 0 or self.prio_fee > self.max_fee:
            raise ValueError(f"fee caps: need 0 < prio cap <= max-fee cap, got prio {self.prio_fee}, max {self.max_fee}")


@dataclass(frozen=True)
class FeePolicy:
    caps: FeeCaps
    percentiles: tuple[float, float, float] = (10.0, 50.0, 90.0)
    history_blocks: int = 10
    base_fee_multiplier_min_bps: int = 15_000  # headroom at urgency 0 (1.5x next base fee)
    base_fee_multiplier_max_bps: int = 30_000  # headroom at urgency 1 (3x)
    min_priority_fee: int = 0  # wei

    def __post_init__(self) -> None:
        low, mid, high = self.percentiles
        if not 0 <= low < mid < high <= 100:
            raise ValueError(f"fee percentiles: need 0 <= low < mid < high <= 100, got {self.percentiles}")
        if not BPS <= self.base_fee_multiplier_min_bps <= self.base_fee_multiplier_max_bps:
            raise ValueError("fee base-fee multipliers: need 1x <= min <= max")
        if self.history_blocks < 1:
            raise ValueError(f"fee history_blocks: must be >= 1, got {self.history_blocks}")


@dataclass(frozen=True)
class FeeHistory:
    """`eth_feeHistory` reduced to what the quote needs.

    base_fees: one per block of the window plus the next block's (the last entry), wei.
    rewards: per block, the priority fee at each requested percentile, wei.
    gas_used_ratio: per block, in [0, 1]; empty blocks (0) report zero rewards and are ignored when others exist.
    """

    percentiles: tuple[float, ...]
    base_fees: tuple[int, ...]
    rewards: tuple[tuple[int, ...], ...]
    gas_used_ratio: tuple[float, ...]

    @property
    def next_base_fee(self) -> int:
        return self.base_fees[-1]


@dataclass(frozen=True)
class FeeQuote:
    fees: Fees
    next_base_fee: int  # wei
    capped: bool  # True when a cap lowered either field

    @property
    def includable(self) -> bool:
        """False when the max-fee cap leaves the transaction below the next block's base fee."""
        return self.fees.max_fee >= self.next_base_fee


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _reward_at(history: FeeHistory, column: int) -> int:
    busy = [r[column] for r, g in zip(history.rewards, history.gas_used_ratio, strict=True) if g > 0]
    values = busy or [r[column] for r in history.rewards]
    return int(statistics.median_high(values)) if values else 0


def _interpolate(low: int, mid: int, high: int, urgency: Fraction) -> int:
    if urgency <= Fraction(1, 2):
        a, b, t = low, mid, urgency * 2
    else:
        a, b, t = mid, high, (urgency - Fraction(1, 2)) * 2
    return math.ceil(a + (b - a) * t)


def quote_fees(history: FeeHistory, urgency: float, policy: FeePolicy) -> FeeQuote:
    """Pure: fees for a new transaction from a fee-history window (see the module docstring for the formula)."""
    if not 0.0 <= urgency <= 1.0:
        raise ValueError(f"urgency: must be in [0, 1], got {urgency}")
    if tuple(history.percentiles) != tuple(policy.percentiles):
        raise ValueError(f"fee history percentiles {history.percentiles} differ from the policy's {policy.percentiles}")
    u = Fraction(urgency)
    rewards = [_reward_at(history, i) for i in range(3)]
    raw_prio = max(_interpolate(rewards[0], rewards[1], rewards[2], u), policy.min_priority_fee)
    headroom = policy.base_fee_multiplier_min_bps + (policy.base_fee_multiplier_max_bps - policy.base_fee_multiplier_min_bps) * u
    raw_max = math.ceil(history.next_base_fee * headroom / BPS) + raw_prio
    prio = min(raw_prio, policy.caps.prio_fee)
    max_fee = max(min(raw_max, policy.caps.max_fee), prio)
    return FeeQuote(Fees(max_fee, prio), history.next_base_fee, capped=(prio, max_fee) != (raw_prio, raw_max))


def min_bump(value: int) -> int:
    """Smallest integer >= value * 1.125 that is also > value (a zero fee bumps to 1 wei)."""
    return value + max(_ceil_div(value, 8), 1)


def is_valid_replacement(previous: Fees, new: Fees) -> bool:
    """Both fields raised by at least 12.5%."""
    return new.prio_fee >= min_bump(previous.prio_fee) and new.max_fee >= min_bump(previous.max_fee)


def bump_fees(previous: Fees, floor: Fees, caps: FeeCaps) -> Fees:
    """Fees for a replacement: both fields >= 112.5% of `previous` and >= the fresh quote `floor`, within `caps`."""
    prio = max(min_bump(previous.prio_fee), floor.prio_fee)
    max_fee = max(min_bump(previous.max_fee), floor.max_fee, prio)
    if prio > caps.prio_fee:
        raise FeeCapExceeded(
            f"replacement needs max priority fee {prio / GWEI:g} gwei, above the cap {caps.prio_fee / GWEI:g} gwei"
        )
    if max_fee > caps.max_fee:
        raise FeeCapExceeded(f"replacement needs max fee {max_fee / GWEI:g} gwei, above the cap {caps.max_fee / GWEI:g} gwei")
    return Fees(max_fee, prio)


def parse_fee_history(raw: Any, percentiles: tuple[float, ...]) -> FeeHistory:
    """Convert a web3 `fee_history` answer (ints or hex strings) into `FeeHistory`."""

    def as_int(v: Any) -> int:
        return int(v, 16) if isinstance(v, str) else int(v)

    rewards = tuple(tuple(as_int(x) for x in row) for row in (raw.get("reward") or []))
    base_fees = tuple(as_int(x) for x in raw["baseFeePerGas"])
    ratios = tuple(float(x) for x in raw["gasUsedRatio"])
    if not rewards:
        rewards = tuple(tuple(0 for _ in percentiles) for _ in ratios)
    return FeeHistory(tuple(percentiles), base_fees, rewards, ratios)


def fetch_fee_history(w3: Web3, policy: FeePolicy) -> FeeHistory:
    """The thin network half: one `eth_feeHistory` call over the policy's window ending at 'latest'."""
    raw = w3.eth.fee_history(policy.history_blocks, "latest", list(policy.percentiles))
    return parse_fee_history(raw, policy.percentiles)


def fetch_quote(w3: Web3, policy: FeePolicy, urgency: float) -> FeeQuote:
    return quote_fees(fetch_fee_history(w3, policy), urgency, policy)
