"""Plain data shared by the executor modules: intents, statuses, transaction records and handles.

An `Intent` is what the planner hands over: "call `to` with `data` (and `value`) on behalf of `vault`". The
calldata is opaque to the executor, so a multicall batch over several vaults is just another intent whose
`vaults` lists every vault it touches (all of them are locked while it is in flight).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.executor.errors import InvalidIntent


class IntentStatus(str, Enum):
    """Lifecycle of an intent. PENDING, CANCELLING and MINED are in flight; the others are final."""

    PENDING = "pending"  # signed (and normally broadcast), nothing of it included yet
    CANCELLING = "cancelling"  # a cancel was signed at its nonce, nothing included yet
    MINED = "mined"  # one of its transactions is included, waiting for the confirmation depth
    CONFIRMED = "confirmed"  # the action landed and succeeded at the confirmation depth
    CANCELLED = "cancelled"  # the cancel (0-value self-transfer) took the nonce
    NOOP = "noop"  # another keeper acted first: benign revert, in simulation or on-chain
    REVERTED = "reverted"  # the action was mined and reverted (not benign)
    REJECTED = "rejected"  # never reached the chain: simulation reverted or the node refused it
    DROPPED = "dropped"  # its nonce was consumed by a transaction that is not in the journal
    DRY_RUN = "dry_run"  # dry-run mode: simulated and priced only; never written to the journal

    @property
    def in_flight(self) -> bool:
        return self in IN_FLIGHT

    @property
    def final(self) -> bool:
        return self not in IN_FLIGHT


IN_FLIGHT = frozenset({IntentStatus.PENDING, IntentStatus.CANCELLING, IntentStatus.MINED})


class TxStatus(str, Enum):
    SIGNED = "signed"  # journalled before broadcast; no node has acknowledged it yet
    SENT = "sent"  # a node accepted it (or already knew it)
    MINED = "mined"  # a receipt exists in the block recorded on the row
    FINAL = "final"  # mined at the confirmation depth
    REPLACED = "replaced"  # a newer transaction at the same nonce was signed; this one may still be mined
    REJECTED = "rejected"  # the node refused it; it can never be mined
    DROPPED = "dropped"  # another transaction took its nonce; it can never be mined


LIVE_TX = frozenset({TxStatus.SIGNED, TxStatus.SENT, TxStatus.MINED, TxStatus.REPLACED})


class TxKind(str, Enum):
    ACTION = "action"  # the intent's own call (original or fee replacement)
    CANCEL = "cancel"  # 0-value self-transfer at the intent's nonce


def _norm_address(value: str) -> str:
    return str(to_checksum_address(value))


@dataclass(frozen=True)
class Intent:
    """One action to execute. `id` defaults to a hash of the content, so re-planning the same block is idempotent.

    vault: the vault this acts for (its lane: one in-flight intent per vault).
    kind: free label for logs and metrics ("rebalance", "delever", "batch", ...).
    to, data, value: the call (value in wei). data is opaque: a vault call or a multicall batch.
    created_block: block the planner decided on; part of the default id.
    urgency: 0 (routine) .. 1 (close to liquidation); drives the fee percentile and base-fee headroom.
    gas_limit: fixed gas limit, or None to use estimate_gas at 'pending' times the configured margin.
    vaults: other vaults the call touches (a batch); they are locked too.
    """

    vault: str
    kind: str
    to: str
    data: bytes
    created_block: int
    value: int = 0
    urgency: float = 0.0
    gas_limit: int | None = None
    vaults: tuple[str, ...] = ()
    id: str = field(default="")

    def __post_init__(self) -> None:
        if not 0.0 <= self.urgency <= 1.0:
            raise InvalidIntent(f"intent urgency: must be in [0, 1], got {self.urgency}")
        if self.value < 0:
            raise InvalidIntent(f"intent value: must be >= 0 wei, got {self.value}")
        if self.gas_limit is not None and self.gas_limit < 21_000:
            raise InvalidIntent(f"intent gas_limit: must be >= 21000, got {self.gas_limit}")
        object.__setattr__(self, "vault", _norm_address(self.vault))
        object.__setattr__(self, "to", _norm_address(self.to))
        extra = tuple(_norm_address(v) for v in self.vaults if _norm_address(v) != self.vault)
        object.__setattr__(self, "vaults", tuple(dict.fromkeys(extra)))
        if not self.id:
            object.__setattr__(self, "id", "0x" + keccak(text=self.payload_json() + self.kind).hex()[:32])

    @property
    def all_vaults(self) -> tuple[str, ...]:
        return (self.vault, *self.vaults)

    def payload(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "data": "0x" + self.data.hex(),
            "value": str(self.value),
            "urgency": self.urgency,
            "gas_limit": self.gas_limit,
            "vaults": list(self.vaults),
            "created_block": self.created_block,
            "vault": self.vault,
        }

    def payload_json(self) -> str:
        return json.dumps(self.payload(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_payload(cls, intent_id: str, kind: str, payload: dict[str, Any]) -> Intent:
        return cls(
            vault=payload["vault"],
            kind=kind,
            to=payload["to"],
            data=bytes.fromhex(payload["data"][2:]),
            created_block=int(payload["created_block"]),
            value=int(payload["value"]),
            urgency=float(payload["urgency"]),
            gas_limit=payload["gas_limit"],
            vaults=tuple(payload["vaults"]),
            id=intent_id,
        )


def batch_intent(
    to: str, data: bytes, vaults: tuple[str, ...], created_block: int, urgency: float = 0.0, kind: str = "batch"
) -> Intent:
    """An intent for a multicall-style batch over several vaults: all of them are locked while it is in flight."""
    if not vaults:
        raise InvalidIntent("batch_intent vaults: must name at least one vault")
    return Intent(
        vault=vaults[0], kind=kind, to=to, data=data, created_block=created_block, urgency=urgency, vaults=vaults[1:]
    )


@dataclass(frozen=True)
class SignedTx:
    """A signed type-2 transaction as stored in the journal (the raw bytes are re-broadcast verbatim)."""

    hash: str
    raw: bytes
    nonce: int
    kind: TxKind
    gas_limit: int
    max_fee: int  # wei per gas
    prio_fee: int  # wei per gas


@dataclass(frozen=True)
class TxRecord:
    seq: int  # journal order: higher = signed later
    hash: str
    intent_id: str
    nonce: int
    kind: TxKind
    raw: bytes
    gas_limit: int
    max_fee: int
    prio_fee: int
    status: TxStatus
    signed_at: float
    sent_at: float | None
    sent_block: int | None
    attempts: int
    receipt_block: int | None
    receipt_block_hash: str | None
    receipt_status: int | None
    gas_used: int | None
    effective_gas_price: int | None
    revert_selector: str | None
    error: str | None


@dataclass(frozen=True)
class IntentRecord:
    intent: Intent
    status: IntentStatus
    nonce: int | None
    reason: str | None
    created_at: float
    updated_at: float

    @property
    def id(self) -> str:
        return self.intent.id


@dataclass(frozen=True)
class TxHandle:
    """Snapshot of an intent's state as seen by the executor; ask `Executor.handle(id)` for a fresh one."""

    intent_id: str
    vault: str
    kind: str
    status: IntentStatus
    nonce: int | None = None
    tx_hash: str | None = None  # the mined transaction if any, else the newest live one
    block_number: int | None = None
    reason: str | None = None

    @property
    def final(self) -> bool:
        return self.status.final


@dataclass(frozen=True)
class ExecutorEvent:
    """Something the executor did or saw; logged, and handed to the optional listener (metrics)."""

    kind: str  # sent, resent, replaced, cancel_sent, mined, reorged, confirmed, cancelled, noop, reverted, ...
    intent_id: str
    vault: str
    intent_kind: str
    nonce: int | None = None
    tx_hash: str | None = None
    detail: str = ""
    gas_used: int = 0
    gas_cost_wei: int = 0
