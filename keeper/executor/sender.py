"""The executor: turns planner intents into transactions that land once, with no duplicate or stuck nonce.

Public API
    ex = Executor(w3, signer, journal, fee_policy, confirmations=2, stuck_blocks=3, is_benign=..., ...)
    ex.recover(is_obsolete=None) -> list[TxHandle]
        At start-up, before anything else: sync the nonce from chain + journal, re-broadcast journalled bytes
        that no node acknowledged, adopt receipts, replace what is stuck, cancel what `is_obsolete` says.
    ex.submit(intent) -> TxHandle
        Idempotent per intent id. Simulate at 'pending' (eth_call + estimate_gas); on revert nothing is signed:
        a benign revert (`is_benign(selector)`, "another keeper acted first") gives a NOOP handle, any other
        raises SimulationReverted. Then price (fee history), reserve a nonce, sign, journal, broadcast.
    ex.poll(block_number) -> list[TxHandle]
        Once per new block: re-broadcast unacknowledged bytes first, check receipts of every live transaction,
        detect reorgs (receipt gone or in another block -> back in flight), replace a transaction that waited
        `stuck_blocks` blocks (both fee fields +12.5% at least), finalize at `confirmations` depth. Returns the
        handles whose state changed.
    ex.cancel(intent_id) -> TxHandle
        0-value self-transfer at the intent's nonce with bumped fees (the planner says the action is obsolete).
    ex.handle(intent_id), ex.busy_vaults(), ex.in_flight()

Guarantees (each one has a test in tests/keeper)
    - the signed bytes are in the journal before any broadcast; after a send error the SAME bytes are re-sent,
      and nothing new is signed while any journalled transaction is unacknowledged (BroadcastError);
    - one nonce per intent, one in-flight intent per vault (enforced by the journal);
    - a replacement or cancel raises both fee fields by >= 12.5% within the caps, else an ALERT and no send;
    - a mined reverted transaction is replayed at its block to decode the error; benign -> NOOP.

Every network failure surfaces as RpcUnavailable (an ExecutorError) so the caller's loop has one thing to catch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from eth_typing import ChecksumAddress
from web3 import Web3

from keeper.executor.broadcast import TRANSPORT_ERRORS, SendOutcome, SendResult, rpc_message, send_raw
from keeper.executor.chain import ChainCalls, Receipt
from keeper.executor.errors import (
    BroadcastError,
    CannotCancel,
    ExecutorError,
    FeeCapExceeded,
    RpcUnavailable,
    SimulationReverted,
    TxRejected,
    VaultBusy,
)
from keeper.executor.fees import GWEI, FeePolicy, Fees, bump_fees, fetch_quote
from keeper.executor.journal import Journal
from keeper.executor.models import (
    LIVE_TX,
    ExecutorEvent,
    Intent,
    IntentRecord,
    IntentStatus,
    SignedTx,
    TxHandle,
    TxKind,
    TxRecord,
    TxStatus,
)
from keeper.executor.nonce import NonceManager
from keeper.executor.revert import DecodedRevert, ErrorDecoder
from keeper.executor.signer import Signer, sign_tx
from keeper.ops.logging import get_logger

CANCEL_GAS = 21_000
BenignPredicate = Callable[[str | None], bool]
EventListener = Callable[[ExecutorEvent], None]


def never_benign(selector: str | None) -> bool:
    """The default benign-failure predicate: no revert is benign."""
    return False


class Executor:
    def __init__(
        self,
        w3: Web3,
        signer: Signer,
        journal: Journal,
        fee_policy: FeePolicy,
        *,
        confirmations: int = 2,
        stuck_blocks: int = 3,
        gas_limit_multiplier_bps: int = 12_000,
        is_benign: BenignPredicate = never_benign,
        decoder: ErrorDecoder | None = None,
        dry_run: bool = False,
        listener: EventListener | None = None,
        expected_chain_id: int | None = None,
    ) -> None:
        if confirmations < 1:
            raise ValueError(f"confirmations: must be >= 1, got {confirmations}")
        if stuck_blocks < 1:
            raise ValueError(f"stuck_blocks: must be >= 1, got {stuck_blocks}")
        if gas_limit_multiplier_bps < 10_000:
            raise ValueError(f"gas_limit_multiplier_bps: must be >= 10000, got {gas_limit_multiplier_bps}")
        self._w3 = w3
        self._signer = signer
        self._address = Web3.to_checksum_address(signer.address)
        self._journal = journal
        self._policy = fee_policy
        self._confirmations = confirmations
        self._stuck_blocks = stuck_blocks
        self._gas_bps = gas_limit_multiplier_bps
        self._is_benign = is_benign
        self._dry_run = dry_run
        self._listener = listener
        self._log = get_logger("keeper.executor")
        self._nonces = NonceManager(w3, self._address)
        self._chain = ChainCalls(w3, self._address, decoder or ErrorDecoder())
        self._replace_after: dict[str, int] = {}  # intent id -> first block a failed replacement may be retried
        self._cap_alerted: set[str] = set()  # tx hashes whose replacement the fee cap blocked (alert once)
        with self._rpc("read the chain id"):
            self.chain_id = int(w3.eth.chain_id)
        if expected_chain_id is not None and expected_chain_id != self.chain_id:
            raise ExecutorError(f"chain_id: config says {expected_chain_id}, the node at the RPC URL says {self.chain_id}")
        journal.bind(self.chain_id, self._address)

    @property
    def address(self) -> ChecksumAddress:
        return self._address

    # -- public API -------------------------------------------------------------------------------------------

    def recover(self, is_obsolete: Callable[[Intent], bool] | None = None) -> list[TxHandle]:
        """Start-up: adopt, re-broadcast (same bytes), replace or cancel what the journal has in flight."""
        records = self._journal.in_flight()
        with self._rpc("recover"):
            block = int(self._w3.eth.block_number)
            self._nonces.sync(floor=self._journal.next_nonce_floor())
        self._log.event("recovering", in_flight=len(records), block=block, next_nonce=self._nonces.next)
        self.poll(block)
        if is_obsolete is not None:
            for record in self._journal.in_flight():
                if record.status == IntentStatus.PENDING and is_obsolete(record.intent):
                    self.cancel(record.id)
        return [h for h in (self.handle(r.id) for r in records) if h is not None]

    def submit(self, intent: Intent) -> TxHandle:
        existing = self._journal.intent(intent.id)
        if existing is not None:
            return self._handle(existing)
        busy = self._journal.busy_vaults()
        for vault in intent.all_vaults:
            if vault in busy:
                raise VaultBusy(vault, busy[vault])
        with self._rpc(f"submit intent {intent.id}"):
            block = int(self._w3.eth.block_number)
            self._flush(block, strict=True)
            sim = self._chain.simulate(intent, "pending")
            if sim.revert is not None:
                return self._on_simulation_revert(intent, sim.revert)
            gas_limit = intent.gas_limit or math.ceil(sim.gas * self._gas_bps / 10_000)
            quote = fetch_quote(self._w3, self._policy, intent.urgency)
            if not quote.includable:
                self._log.alert(
                    "fee_cap_below_base_fee", intent=intent.id, vault=intent.vault,
                    cap_gwei=quote.fees.max_fee / GWEI, base_fee_gwei=quote.next_base_fee / GWEI,
                )
                raise FeeCapExceeded(
                    f"intent {intent.id}: max-fee cap {quote.fees.max_fee / GWEI:g} gwei is below the next base fee "
                    f"{quote.next_base_fee / GWEI:g} gwei"
                )
            if self._dry_run:
                self._emit("dry_run", intent, detail=f"gas {gas_limit}, max fee {quote.fees.max_fee}, prio {quote.fees.prio_fee}")
                return TxHandle(intent.id, intent.vault, intent.kind, IntentStatus.DRY_RUN)
            nonce = self._nonces.reserve(floor=self._journal.next_nonce_floor())
            signed = self._sign_action(intent, nonce, gas_limit, quote.fees)
            try:
                self._journal.open_intent(intent, signed)
            except BaseException:
                self._nonces.release(nonce)
                raise
            self._send_first(intent, signed, block, may_move_nonce=True)
        return self._must_handle(intent.id)

    def poll(self, block_number: int) -> list[TxHandle]:
        with self._rpc(f"poll block {block_number}"):
            may_sign = self._flush(block_number, strict=False) == 0
            records = self._journal.in_flight()
            if not records:
                return []
            latest_nonce = self._nonces.chain_latest()
            changed: list[TxHandle] = []
            for record in records:
                before = self._handle(record)
                self._advance(record, block_number, latest_nonce, may_sign)
                after = self._must_handle(record.id)
                if after != before:
                    changed.append(after)
            return changed

    def cancel(self, intent_id: str) -> TxHandle:
        record = self._journal.intent(intent_id)
        if record is None:
            raise CannotCancel(f"intent {intent_id}: not in the journal")
        if record.status == IntentStatus.CANCELLING:
            return self._handle(record)
        if record.status == IntentStatus.MINED:
            raise CannotCancel(f"intent {intent_id}: already mined, waiting for {self._confirmations} confirmations")
        if record.status.final:
            raise CannotCancel(f"intent {intent_id}: already {record.status.value}")
        with self._rpc(f"cancel intent {intent_id}"):
            block = int(self._w3.eth.block_number)
            self._flush(block, strict=True)
            record = self._must_record(intent_id)
            live = self._live(intent_id)
            if not record.status.in_flight or not live:
                raise CannotCancel(f"intent {intent_id}: already {record.status.value}")
            current = live[-1]
            quote = fetch_quote(self._w3, self._policy, record.intent.urgency)
            try:
                fees = bump_fees(Fees(current.max_fee, current.prio_fee), quote.fees, self._policy.caps)
            except FeeCapExceeded as exc:
                raise FeeCapExceeded(f"intent {intent_id}: cannot cancel: {exc}") from None
            self._send_replacement(record, self._sign_cancel(current.nonce, fees), block, "cancel requested")
        return self._must_handle(intent_id)

    def handle(self, intent_id: str) -> TxHandle | None:
        record = self._journal.intent(intent_id)
        return None if record is None else self._handle(record)

    def busy_vaults(self) -> dict[str, str]:
        """vault -> in-flight intent id; the planner skips these vaults."""
        return self._journal.busy_vaults()

    def in_flight(self) -> list[TxHandle]:
        """Every intent still pending, cancelling or waiting for confirmations, by nonce."""
        return [self._handle(r) for r in self._journal.in_flight()]

    # -- per-block state machine ------------------------------------------------------------------------------

    def _advance(self, record: IntentRecord, block: int, latest_nonce: int, may_sign: bool) -> None:
        live = self._live(record.id)
        if not live:
            self._journal.finalize(record.id, IntentStatus.DROPPED, None, "no live transaction left")
            self._emit("dropped", record.intent, record.nonce, detail="no live transaction left")
            return
        receipts = {t.hash: self._chain.receipt(t.hash) for t in live}
        reorged = False
        for tx in live:
            seen = receipts[tx.hash]
            if tx.status == TxStatus.MINED and (seen is None or seen.block_hash != tx.receipt_block_hash):
                detail = f"block {tx.receipt_block} {tx.receipt_block_hash} is no longer canonical"
                self._journal.unmine(tx.hash, detail)
                self._emit("reorged", record.intent, tx.nonce, tx.hash, detail)
                reorged = True
        if reorged:
            live = self._live(record.id)
        winner = next((t for t in reversed(live) if receipts[t.hash] is not None), None)
        if winner is not None:
            self._on_receipt(record, winner, cast(Receipt, receipts[winner.hash]), block)
            return
        assert record.nonce is not None
        if latest_nonce > record.nonce:
            detail = f"nonce {record.nonce} was consumed by a transaction that is not in the journal"
            self._journal.finalize(record.id, IntentStatus.DROPPED, None, detail)
            self._log.alert("nonce_consumed_externally", intent=record.id, vault=record.intent.vault, nonce=record.nonce)
            self._emit("dropped", record.intent, record.nonce, detail=detail)
            return
        current = live[-1]
        if current.status == TxStatus.SIGNED:
            return  # unacknowledged: _flush keeps re-sending these bytes; nothing new is signed on top
        result = send_raw(self._w3, current.raw)  # idempotent; puts it back after a pool eviction or a reorg
        if result.outcome == SendOutcome.ACCEPTED:
            self._emit("resent", record.intent, current.nonce, current.hash, "node did not have it")
        sent_block = current.sent_block if current.sent_block is not None else block
        stuck = block - sent_block >= self._stuck_blocks and block >= self._replace_after.get(record.id, 0)
        if stuck and may_sign:
            self._replace_stuck(self._must_record(record.id), current, block)

    def _on_receipt(self, record: IntentRecord, tx: TxRecord, receipt: Receipt, block: int) -> None:
        if tx.status != TxStatus.MINED:
            decoded = None
            if receipt.status == 0 and tx.kind == TxKind.ACTION:
                decoded = self._chain.replay(record.intent, tx.gas_limit, receipt)
            self._journal.mark_mined(
                tx.hash, receipt.block_number, receipt.block_hash, receipt.status, receipt.gas_used,
                receipt.effective_gas_price, decoded.selector if decoded else None,
                decoded.describe() if decoded else None,
            )
            self._emit("mined", record.intent, tx.nonce, tx.hash, f"block {receipt.block_number} status {receipt.status}")
        if block - receipt.block_number + 1 < self._confirmations:
            return
        final = self._journal.tx(tx.hash)
        assert final is not None
        cost = receipt.gas_used * receipt.effective_gas_price
        if tx.kind == TxKind.CANCEL:
            status, reason = IntentStatus.CANCELLED, "cancel landed"
        elif receipt.status == 1:
            status, reason = IntentStatus.CONFIRMED, "landed"
        elif self._is_benign(final.revert_selector):
            status, reason = IntentStatus.NOOP, f"another keeper acted first: {final.error}"
        else:
            status, reason = IntentStatus.REVERTED, f"reverted on-chain: {final.error}"
        self._journal.finalize(record.id, status, tx.hash, reason)
        self._replace_after.pop(record.id, None)
        self._emit(status.value, record.intent, tx.nonce, tx.hash, reason, gas_used=receipt.gas_used, gas_cost_wei=cost)

    def _replace_stuck(self, record: IntentRecord, current: TxRecord, block: int) -> None:
        quote = fetch_quote(self._w3, self._policy, record.intent.urgency)
        try:
            fees = bump_fees(Fees(current.max_fee, current.prio_fee), quote.fees, self._policy.caps)
        except FeeCapExceeded as exc:
            if current.hash not in self._cap_alerted:
                self._cap_alerted.add(current.hash)
                self._log.alert(
                    "replacement_blocked_by_fee_cap", intent=record.id, vault=record.intent.vault,
                    nonce=current.nonce, tx=current.hash, reason=str(exc),
                )
                self._emit("replacement_blocked", record.intent, current.nonce, current.hash, str(exc))
            return
        if record.status == IntentStatus.CANCELLING:
            self._send_replacement(record, self._sign_cancel(current.nonce, fees), block, "stuck cancel")
            return
        sim = self._chain.simulate(record.intent, "latest", gas_limit=current.gas_limit)
        if sim.revert is not None:
            # Replacing a call that now reverts would burn gas for nothing: take the nonce back with a cancel.
            reason = f"replacement would revert: {sim.revert.describe()}"
            self._send_replacement(record, self._sign_cancel(current.nonce, fees), block, reason)
            return
        signed = self._sign_action(record.intent, current.nonce, current.gas_limit, fees)
        self._send_replacement(record, signed, block, f"not included for {block - (current.sent_block or block)} blocks")

    # -- sending ----------------------------------------------------------------------------------------------

    def _send(self, tx: SignedTx | TxRecord) -> SendResult:
        result = send_raw(self._w3, tx.raw)
        if result.outcome == SendOutcome.TRANSPORT:
            result = send_raw(self._w3, tx.raw)  # the same bytes, once more, right away
        return result

    def _send_first(self, intent: Intent, signed: SignedTx, block: int, may_move_nonce: bool) -> None:
        result = self._send(signed)
        if result.outcome.acknowledged:
            self._journal.mark_sent(signed.hash, block)
            self._emit("sent", intent, signed.nonce, signed.hash, f"max fee {signed.max_fee}, prio {signed.prio_fee}")
            return
        if result.outcome == SendOutcome.TRANSPORT:
            self._journal.mark_attempt(signed.hash, result.detail)
            self._emit("send_failed", intent, signed.nonce, signed.hash, result.detail)
            return
        if result.outcome == SendOutcome.NONCE_TOO_LOW:
            if self._chain.receipt(signed.hash) is not None:  # an earlier attempt did reach the node and was mined
                self._journal.mark_sent(signed.hash, block)
                return
            self._nonces.reconcile(floor=self._journal.next_nonce_floor())
            if may_move_nonce:
                fresh = self._nonces.reserve(floor=self._journal.next_nonce_floor())
                moved = self._sign_action(intent, fresh, signed.gas_limit, Fees(signed.max_fee, signed.prio_fee))
                self._journal.reassign_nonce(intent.id, signed.hash, moved)
                self._emit("nonce_moved", intent, fresh, moved.hash, f"nonce {signed.nonce} was already used")
                self._send_first(intent, moved, block, may_move_nonce=False)
                return
        detail = f"node refused the transaction: {result.detail}"
        self._journal.finalize(intent.id, IntentStatus.REJECTED, None, detail)
        self._nonces.reconcile(floor=self._journal.next_nonce_floor())
        self._emit("rejected", intent, signed.nonce, signed.hash, detail)
        raise TxRejected(f"intent {intent.id} nonce {signed.nonce}: {detail}")

    def _send_replacement(self, record: IntentRecord, signed: SignedTx, block: int, why: str) -> None:
        cancelling = signed.kind == TxKind.CANCEL
        self._journal.add_tx(record.id, signed, IntentStatus.CANCELLING if cancelling else None)
        result = self._send(signed)
        kind = "cancel_sent" if cancelling else "replaced"
        if result.outcome.acknowledged:
            self._journal.mark_sent(signed.hash, block)
            self._emit(kind, record.intent, signed.nonce, signed.hash, f"{why}; max fee {signed.max_fee}, prio {signed.prio_fee}")
        elif result.outcome == SendOutcome.TRANSPORT:
            self._journal.mark_attempt(signed.hash, result.detail)
            self._emit("send_failed", record.intent, signed.nonce, signed.hash, result.detail)
        else:
            # NONCE_TOO_LOW: something of ours was just mined at this nonce; the next poll adopts it.
            self._journal.mark_tx(signed.hash, TxStatus.REJECTED, result.detail)
            self._replace_after[record.id] = block + self._stuck_blocks
            if result.outcome != SendOutcome.NONCE_TOO_LOW:
                self._log.alert("replacement_refused", intent=record.id, nonce=signed.nonce, reason=result.detail)
            self._emit("replacement_refused", record.intent, signed.nonce, signed.hash, result.detail)

    def _flush(self, block: int, strict: bool) -> int:
        """Re-send, byte for byte, every journalled transaction no node has acknowledged yet; returns how many
        are still unacknowledged (strict: raise BroadcastError instead)."""
        unreachable: list[str] = []
        for tx in self._journal.unacknowledged():
            record = self._must_record(tx.intent_id)
            result = send_raw(self._w3, tx.raw)
            if result.outcome.acknowledged or result.outcome == SendOutcome.NONCE_TOO_LOW:
                # NONCE_TOO_LOW: this or a sibling was mined; receipts settle which one in _advance.
                self._journal.mark_sent(tx.hash, block)
                self._emit("resent", record.intent, tx.nonce, tx.hash, result.outcome.value)
            elif result.outcome == SendOutcome.TRANSPORT:
                self._journal.mark_attempt(tx.hash, result.detail)
                unreachable.append(tx.hash)
            else:
                self._journal.mark_tx(tx.hash, TxStatus.REJECTED, result.detail)
                self._emit("resend_refused", record.intent, tx.nonce, tx.hash, result.detail)
                if not self._live(tx.intent_id):
                    self._journal.finalize(tx.intent_id, IntentStatus.REJECTED, None, f"node refused: {result.detail}")
                    self._nonces.reconcile(floor=self._journal.next_nonce_floor())
                    self._emit("rejected", record.intent, tx.nonce, tx.hash, result.detail)
        if unreachable and strict:
            raise BroadcastError(
                f"{len(unreachable)} signed transaction(s) still unacknowledged (first {unreachable[0]}); nothing new is signed"
            )
        return len(unreachable)

    # -- helpers ----------------------------------------------------------------------------------------------

    def _on_simulation_revert(self, intent: Intent, revert: DecodedRevert) -> TxHandle:
        reason = revert.describe()
        if self._is_benign(revert.selector):
            if not self._dry_run:
                self._journal.record_final(intent, IntentStatus.NOOP, f"another keeper acted first: {reason}")
            self._emit("noop", intent, detail=reason)
            return TxHandle(intent.id, intent.vault, intent.kind, IntentStatus.NOOP, reason=reason)
        if not self._dry_run:
            self._journal.record_final(intent, IntentStatus.REJECTED, f"simulation reverted: {reason}")
        self._emit("simulation_reverted", intent, detail=reason)
        raise SimulationReverted(intent.id, reason, revert.selector)

    def _sign_action(self, intent: Intent, nonce: int, gas_limit: int, fees: Fees) -> SignedTx:
        return sign_tx(
            self._signer, chain_id=self.chain_id, nonce=nonce, to=intent.to, data=intent.data, value=intent.value,
            gas_limit=gas_limit, fees=fees, kind=TxKind.ACTION,
        )

    def _sign_cancel(self, nonce: int, fees: Fees) -> SignedTx:
        return sign_tx(
            self._signer, chain_id=self.chain_id, nonce=nonce, to=self._address, data=b"", value=0,
            gas_limit=CANCEL_GAS, fees=fees, kind=TxKind.CANCEL,
        )

    def _live(self, intent_id: str) -> list[TxRecord]:
        return [t for t in self._journal.txs(intent_id) if t.status in LIVE_TX]

    def _must_record(self, intent_id: str) -> IntentRecord:
        record = self._journal.intent(intent_id)
        if record is None:
            raise ExecutorError(f"intent {intent_id}: vanished from the journal")
        return record

    def _must_handle(self, intent_id: str) -> TxHandle:
        return self._handle(self._must_record(intent_id))

    def _handle(self, record: IntentRecord) -> TxHandle:
        txs = self._journal.txs(record.id)
        landed = [t for t in txs if t.status in (TxStatus.MINED, TxStatus.FINAL)]
        live = [t for t in txs if t.status in LIVE_TX]
        shown = landed[-1] if landed else (live[-1] if live else (txs[-1] if txs else None))
        return TxHandle(
            intent_id=record.id,
            vault=record.intent.vault,
            kind=record.intent.kind,
            status=record.status,
            nonce=record.nonce,
            tx_hash=shown.hash if shown else None,
            block_number=shown.receipt_block if shown else None,
            reason=record.reason,
        )

    def _emit(
        self,
        kind: str,
        intent: Intent,
        nonce: int | None = None,
        tx_hash: str | None = None,
        detail: str = "",
        gas_used: int = 0,
        gas_cost_wei: int = 0,
    ) -> None:
        event = ExecutorEvent(kind, intent.id, intent.vault, intent.kind, nonce, tx_hash, detail, gas_used, gas_cost_wei)
        fields: dict[str, Any] = {"intent": intent.id, "vault": intent.vault, "action": intent.kind}
        if nonce is not None:
            fields["nonce"] = nonce
        if tx_hash is not None:
            fields["tx"] = tx_hash
        if detail:
            fields["detail"] = detail
        if gas_used:
            fields["gas_used"] = gas_used
            fields["gas_cost_wei"] = gas_cost_wei
        self._log.event(f"tx_{kind}", **fields)
        if self._listener is not None:
            try:
                self._listener(event)
            except Exception as exc:  # a metrics bug must never stop a transaction mid-flight
                self._log.error("listener_failed", executor_event=kind, error=f"{type(exc).__name__}: {exc}")

    @contextmanager
    def _rpc(self, what: str) -> Iterator[None]:
        try:
            yield
        except TRANSPORT_ERRORS as exc:
            raise RpcUnavailable(f"{what}: node unreachable: {type(exc).__name__}: {rpc_message(exc)}") from exc
