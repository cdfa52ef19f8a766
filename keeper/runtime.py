"""The keeper loop: one handler per new block, in one direction
    chain reads (reader) -> snapshot -> strategies -> planner -> executor,
with the operational duties around it (docs/KEEPER.md).

`Keeper.step(n)` handles block n, idempotently (a block at or below the last processed one changes nothing):
    1. executor.poll(n): receipts, replacements, reorgs; final outcomes feed the circuit breaker
    2. reader.read(n): every vault in one pinned eth_call; after retries the block is skipped (no action on
       partial data); skipped blocks are not failures of the breaker (no gas was spent), but are logged/counted
    3. vaults without usable prices: ALERT `oracle_stale` once per episode, no transaction for them
    4. strategy targets, planner.select (vectorised); venue state read only when some vault may act;
       planner.finalize (exact rules) -> calls
    5. submission through the executor when the breaker allows: single vault calls, or one KeeperBatcher
       transaction per `max_batch` calls when a batcher is configured (simulated first; calls the vault would
       refuse are dropped before signing)
    6. persist the block (last block + price history), metrics, /health, signer balance every N blocks

`Keeper.run(stop)` polls eth_blockNumber every `poll_interval_seconds` and runs `step` for each new head in a
worker thread; SIGINT/SIGTERM set `stop`, the step in progress finishes (and is journalled), the loop returns 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from concurrent.futures import Executor as Executor_
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from eth_abi.abi import decode as abi_decode
from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError

from keeper import vault_rules as R
from keeper.chain import lens as L
from keeper.executor import (
    BroadcastError,
    ErrorDecoder,
    Executor,
    ExecutorError,
    FeeCapExceeded,
    Intent,
    IntentStatus,
    RpcUnavailable,
    SimulationReverted,
    TxHandle,
    VaultBusy,
    batch_intent,
)
from keeper.ops.balance import SignerBalanceWatch
from keeper.ops.breaker import CircuitBreaker
from keeper.ops.health import Health
from keeper.ops.logging import get_logger
from keeper.ops.metrics import KeeperMetrics
from keeper.planner import (
    CLASS_NAMES,
    Dropped,
    PlannedAction,
    PlannerMemory,
    PlannerSettings,
    Selection,
    StrategyRunner,
    finalize,
    select,
)
from keeper.reader import BlockSkipped, ChainReader, ReaderSettings, ReadError, StateStore
from keeper.snapshot import REASONS, MarketInfo, PriceHistory, Snapshot

ACTION_CODES = {R.REBALANCE: 1, R.ITERATE: 2, R.RIPCORD: 3}  # IScalingVault.Action


@dataclass(frozen=True)
class CoreSettings:
    """Settings of the loop beyond KeeperConfig (the `batcher`, `planner` and `reader` keys, keeper/commands.py)."""

    planner: PlannerSettings = PlannerSettings()
    reader: ReaderSettings = ReaderSettings()
    batcher: str | None = None
    max_batch: int = 20  # vault calls per batch transaction
    balance_every_blocks: int = 20
    obsolete_after_blocks: int = 30  # journalled intents older than this are cancelled at start-up
    history_capacity: int = 4096


@dataclass
class StepReport:
    """What one block did (for tests, `keeper once` and logs)."""

    block: int
    status: str  # processed | already_processed | skipped
    detail: str = ""
    planned: list[PlannedAction] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # vault -> reason
    submitted: list[TxHandle] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    snapshot: Snapshot | None = None
    breaker_blocked: bool = False


def calldata(p: PlannedAction) -> bytes:
    if p.action == R.REBALANCE:
        return L.encode_rebalance(p.adjustments)
    if p.action == R.ITERATE:
        return L.encode_iterate()
    return L.encode_ripcord()


class Keeper:
    def __init__(
        self,
        w3: Web3,
        reader: ChainReader,
        executor: Executor | None,
        *,
        settings: CoreSettings = CoreSettings(),
        runner: StrategyRunner | None = None,
        store: StateStore | None = None,
        metrics: KeeperMetrics | None = None,
        health: Health | None = None,
        breaker: CircuitBreaker | None = None,
        balance_watch: SignerBalanceWatch | None = None,
        decoder: ErrorDecoder | None = None,
    ) -> None:
        self.w3 = w3
        self.reader = reader
        self.executor = executor
        self.settings = settings
        self.runner = runner or StrategyRunner()
        self.store = store
        self.metrics = metrics
        self.health = health
        self.breaker = breaker or CircuitBreaker(3, 300.0)
        self.balance_watch = balance_watch
        self.decoder = decoder or ErrorDecoder([L.error_abi()])
        self.batcher = to_checksum_address(settings.batcher) if settings.batcher else None
        self.memory = PlannerMemory(len(reader.vaults))
        self.history = store.load_history() if store is not None else PriceHistory(settings.history_capacity)
        self.last_processed = (store.last_block() if store is not None else None) or -1
        self.log = get_logger("keeper.core")
        self._stale: set[str] = set()
        self._unreadable: set[str] = set()
        self._warm = False
        self._static_market: MarketInfo | None = None
        self._static_block = -10**9

    # -- start-up ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Once before the first block: the executor adopts/re-sends/cancels what the journal has in flight."""
        if self.executor is None:
            return
        head = self.reader.head()
        limit = self.settings.obsolete_after_blocks

        def obsolete(intent: Intent) -> bool:
            return head - intent.created_block > limit

        handles = self.executor.recover(is_obsolete=obsolete)
        self.log.event("started", last_processed=self.last_processed, head=head, in_flight=len(handles),
                       vaults=len(self.reader.vaults), batcher=self.batcher or "none", strategy=self.runner.name)

    # -- one block --------------------------------------------------------------------------------------------

    def step(self, number: int) -> StepReport:
        if number <= self.last_processed:
            return StepReport(number, "already_processed", f"last processed block is {self.last_processed}")
        report = StepReport(number, "processed")
        self._poll(number, report)
        try:
            snap = self.reader.read(number)
        except BlockSkipped as exc:
            self.log.warning("block_skipped", block=number, reason=str(exc))
            report.status, report.detail = "skipped", str(exc)
            return report
        report.snapshot = snap
        self._watch_prices(snap, report)
        if not self._warm:
            self.runner.layout(snap)
            replayed = self.runner.warm_up(self.history)
            self._warm = True
            if replayed:
                self.log.event("estimators_warmed", blocks=replayed)
        self.runner.observe(snap)
        self.history.append(snap.block.number, float(snap.block.timestamp), snap.prices)
        static = self._market_static(snap)
        target = self.runner.targets(snap, static)
        busy = self._busy(snap)
        sel = select(snap, target, self.memory, self.settings.planner, busy, self._gas_price)
        report.held = {snap.records[i].vault: why for i, why in sel.held.items()}
        if len(sel.indices):
            self._plan_and_submit(snap, sel, target, report)
        self._commit(snap, report)
        return report

    def _plan_and_submit(self, snap: Snapshot, sel: Selection, target: Any, report: StepReport) -> None:
        by_venue: dict[str, list[int]] = {}
        for i in sel.indices.tolist():
            by_venue.setdefault(snap.records[i].venue, []).append(int(i))
        planned: list[PlannedAction] = []
        dropped: list[Dropped] = []
        for indices in by_venue.values():
            try:
                market = self.reader.read_market(snap, indices)
            except ReadError as exc:
                self.log.warning("market_read_failed", block=snap.block.number, reason=str(exc))
                report.failures.append(f"market read: {exc}")
                continue
            part = replace(sel, indices=np.array(indices, dtype=np.int64))
            got, lost = finalize(snap, part, market, self.settings.planner, None if self.runner.follows_policy else target)
            planned += got
            dropped += lost
        rank = {int(v): k for k, v in enumerate(sel.indices.tolist())}
        planned.sort(key=lambda action: rank[action.index])
        report.planned, report.dropped = planned, dropped
        for d in dropped:
            self.log.event("action_dropped", vault=d.vault, action=CLASS_NAMES[d.cls], predicted=d.error, block=snap.block.number)
        if not planned:
            return
        if self.executor is None:
            return
        if not self.breaker.allow():
            report.breaker_blocked = True
            self.log.warning("breaker_open", block=snap.block.number, skipped=len(planned), remaining_s=round(self.breaker.remaining(), 1))
            return
        if self.batcher is not None:
            for k in range(0, len(planned), self.settings.max_batch):
                self._submit_batch(snap, planned[k : k + self.settings.max_batch], report)
        else:
            for p in planned:
                self._submit_one(snap, p, report)

    # -- submission -------------------------------------------------------------------------------------------

    def _intent(self, snap: Snapshot, p: PlannedAction) -> Intent:
        return Intent(vault=p.vault, kind=p.kind, to=p.vault, data=calldata(p), created_block=snap.block.number, urgency=p.urgency)

    def _submit(self, intent: Intent, report: StepReport, what: str) -> None:
        assert self.executor is not None
        try:
            handle = self.executor.submit(intent)
        except VaultBusy as exc:
            self.log.event("vault_busy", vault=exc.vault, holder=exc.holder)
            return
        except SimulationReverted as exc:
            self._failure(report, f"{what}: {exc}")
            return
        except (BroadcastError, RpcUnavailable) as exc:
            # the signed bytes (if any) are journalled and re-sent by the next poll: not a failure of the action
            self.log.warning("submit_unreachable", intent=intent.id, reason=str(exc))
            report.failures.append(str(exc))
            return
        except FeeCapExceeded as exc:
            self.log.warning("submit_fee_capped", intent=intent.id, reason=str(exc))
            report.failures.append(str(exc))
            return
        except ExecutorError as exc:
            self._failure(report, f"{what}: {exc}")
            return
        report.submitted.append(handle)
        if handle.status == IntentStatus.NOOP:
            self.log.event("action_noop", intent=intent.id, vault=intent.vault, reason=handle.reason or "")

    def _submit_one(self, snap: Snapshot, p: PlannedAction, report: StepReport) -> None:
        intent = self._intent(snap, p)
        self.log.event(
            "action_planned", block=snap.block.number, vault=p.vault, action=p.kind, reason=p.reason,
            urgency=p.urgency, predicted=p.outcome.describe, intent=intent.id,
        )
        self._submit(intent, report, f"{p.kind} {p.vault}")

    def _submit_batch(self, snap: Snapshot, group: Sequence[PlannedAction], report: StepReport) -> None:
        assert self.executor is not None and self.batcher is not None
        calls = [(p.vault, ACTION_CODES[p.action], p.adjustments) for p in group]
        try:
            raw = self.w3.eth.call(
                {"from": self.executor.address, "to": self.batcher, "data": L.encode_execute(calls, False)},
                "pending",
            )
            results = L.decode_execute_results(bytes(raw))
        except ContractLogicError as exc:
            self._failure(report, f"batch simulation reverted: {self.decoder.from_exception(exc).describe()}")
            return
        except Exception as exc:  # transport errors: try again next block
            self.log.warning("batch_simulation_failed", block=snap.block.number, reason=f"{type(exc).__name__}: {exc}")
            report.failures.append(f"batch simulation: {exc}")
            return
        keep: list[PlannedAction] = []
        for p, (ok, data) in zip(group, results):
            if ok:
                keep.append(p)
                continue
            decoded = self.decoder.decode(data)
            if L.is_benign(decoded.selector):
                self.log.event("action_noop", vault=p.vault, action=p.kind, reason=decoded.describe())
            else:
                self._failure(report, f"{p.kind} {p.vault}: batch simulation: {decoded.describe()}")
        if not keep:
            return
        data = L.encode_execute([(p.vault, ACTION_CODES[p.action], p.adjustments) for p in keep], True)
        intent = batch_intent(
            self.batcher, data, tuple(p.vault for p in keep), snap.block.number,
            urgency=max(p.urgency for p in keep), kind="batch",
        )
        self.log.event(
            "batch_planned", block=snap.block.number, intent=intent.id, calls=len(keep),
            vaults=",".join(p.vault for p in keep), actions=",".join(f"{p.kind}:{p.reason}" for p in keep),
        )
        self._submit(intent, report, f"batch of {len(keep)}")

    # -- bookkeeping ------------------------------------------------------------------------------------------

    def _failure(self, report: StepReport, what: str) -> None:
        self.log.warning("action_failed", reason=what)
        report.failures.append(what)
        self.breaker.record_failure()

    def _poll(self, number: int, report: StepReport) -> None:
        if self.executor is None:
            return
        try:
            changed = self.executor.poll(number)
        except ExecutorError as exc:
            self.log.warning("poll_failed", block=number, reason=str(exc))
            return
        for h in changed:
            if not h.final:
                continue
            if h.status == IntentStatus.CONFIRMED:
                if h.kind == "batch" and h.tx_hash:
                    self._check_batch_receipt(h, report)
                else:
                    self.breaker.record_success()
            elif h.status in (IntentStatus.REVERTED, IntentStatus.REJECTED, IntentStatus.DROPPED):
                self._failure(report, f"intent {h.intent_id} {h.status.value}: {h.reason}")

    def _check_batch_receipt(self, h: TxHandle, report: StepReport) -> None:
        try:
            receipt = self.w3.eth.get_transaction_receipt(HexStr(h.tx_hash or ""))
        except Exception as exc:
            self.log.warning("batch_receipt_unavailable", intent=h.intent_id, reason=f"{type(exc).__name__}: {exc}")
            return
        failed = 0
        for log in receipt["logs"]:
            topics = log["topics"]
            if not topics or L.BATCH_EVENTS.get("0x" + bytes(topics[0]).hex()) != "CallFailed":
                continue
            vault = to_checksum_address(bytes(topics[1])[-20:])
            reason = abi_decode(["bytes"], bytes(log["data"]))[0]
            decoded = self.decoder.decode(reason)
            if L.is_benign(decoded.selector):
                self.log.event("action_noop", vault=vault, intent=h.intent_id, reason=decoded.describe())
            else:
                failed += 1
                self._failure(report, f"batch {h.intent_id} call on {vault} failed on-chain: {decoded.describe()}")
        if not failed:
            self.breaker.record_success()

    def _busy(self, snap: Snapshot) -> np.ndarray[Any, np.dtype[np.bool_]]:
        if self.executor is None:
            return np.zeros(snap.n, dtype=np.bool_)
        busy = {v.lower() for v in self.executor.busy_vaults()}
        return np.array([r.vault.lower() in busy for r in snap.records], dtype=np.bool_)

    def _gas_price(self) -> int:
        return int(self.w3.eth.gas_price)

    def _market_static(self, snap: Snapshot) -> MarketInfo | None:
        """Venue configs for the strategies' margin view (refreshed every market_config_refresh_blocks)."""
        if self.runner.follows_policy:
            return None
        if snap.block.number - self._static_block >= self.settings.reader.market_config_refresh_blocks:
            ok = [i for i, r in enumerate(snap.records) if r.ok]
            if ok:
                try:
                    self._static_market = self.reader.read_market(snap, ok)
                    self._static_block = snap.block.number
                except ReadError as exc:
                    self.log.warning("market_read_failed", block=snap.block.number, reason=str(exc))
        return self._static_market

    def _watch_prices(self, snap: Snapshot, report: StepReport) -> None:
        a = snap.arrays
        stale_now: dict[str, str] = {}
        for i in np.flatnonzero(a.lens_ok & ~a.ok):
            r = snap.records[int(i)]
            bad = [f"{p.asset_id}:{p.price_status}" for p in r.positions if p.price_status != 0 or p.price == 0]
            stale_now[r.vault] = ",".join(bad) or "account"
        for i in np.flatnonzero(~a.lens_ok):
            v = snap.records[int(i)].vault
            if v not in self._unreadable:
                self._unreadable.add(v)
                self.log.alert("vault_unreadable", vault=v, block=snap.block.number, hint="not a ScalingVault, or the lens cannot read it")
        new = sorted(set(stale_now) - self._stale)
        if new:
            self.log.alert(
                "oracle_stale", block=snap.block.number, vaults=",".join(new),
                assets=";".join(f"{v}={stale_now[v]}" for v in new), action="no transaction for these vaults",
            )
        for v in sorted(self._stale - set(stale_now)):
            self.log.event("oracle_ok", vault=v, block=snap.block.number)
        self._stale = set(stale_now)
        report.stale = sorted(stale_now)

    def _commit(self, snap: Snapshot, report: StepReport) -> None:
        n = snap.block.number
        if self.store is not None:
            self.store.commit_block(n, float(snap.block.timestamp), snap.prices)
        self.last_processed = n
        if self.health is not None:
            self.health.block_processed(n)
        if self.metrics is not None:
            self.metrics.on_block(n)
            a = snap.arrays
            for i, r in enumerate(snap.records):
                self.metrics.set_vault(r.vault, float(a.leverage[i]), float(a.equity[i]))
            if self.executor is not None:
                self.metrics.set_in_flight(len(self.executor.in_flight()))
        if self.balance_watch is not None and self.executor is not None and n % self.settings.balance_every_blocks == 0:
            try:
                self.balance_watch.fetch_and_check(self.w3, self.executor.address, n)
            except Exception as exc:
                self.log.warning("balance_check_failed", block=n, reason=f"{type(exc).__name__}: {exc}")

    # -- the loop ---------------------------------------------------------------------------------------------

    async def run(
        self, stop: asyncio.Event, poll_interval: float, worker: Executor_ | None = None, install_signals: bool = True
    ) -> int:
        """Poll and step until `stop` is set (SIGINT/SIGTERM). Blocking work runs on `worker`, a single thread: the
        SQLite journal and state store must be used from the thread that created them, so build the Keeper on the
        same worker (keeper/commands.py does)."""
        loop = asyncio.get_running_loop()
        own = worker is None
        pool = worker or ThreadPoolExecutor(max_workers=1, thread_name_prefix="keeper-step")
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
        try:
            return await self._loop(stop, poll_interval, loop, pool)
        finally:
            if install_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
            if own:
                pool.shutdown(wait=True)

    async def _loop(self, stop: asyncio.Event, poll_interval: float, loop: asyncio.AbstractEventLoop, pool: Executor_) -> int:
        await loop.run_in_executor(pool, self.start)
        while not stop.is_set():
            try:
                head = await loop.run_in_executor(pool, self.reader.head)
            except ReadError as exc:
                self.log.warning("head_unavailable", reason=str(exc))
                head = -1
            if head > self.last_processed:
                if self.last_processed >= 0 and head - self.last_processed > 1:
                    self.log.event("blocks_skipped", start=self.last_processed + 1, end=head - 1)
                try:
                    report = await loop.run_in_executor(pool, self.step, head)
                    if report.planned or report.failures or report.status != "processed":
                        self.log.event(
                            "block_done", block=head, status=report.status, planned=len(report.planned),
                            submitted=len(report.submitted), failures=len(report.failures), held=len(report.held),
                        )
                except Exception as exc:  # a bug in one block must not kill the keeper
                    self.log.error("step_crashed", block=head, error=f"{type(exc).__name__}: {exc}")
                    self.breaker.record_failure()
            with contextlib.suppress(asyncio.TimeoutError):  # the timeout is the poll tick
                await asyncio.wait_for(stop.wait(), timeout=poll_interval)
        self.log.event("shutdown", last_processed=self.last_processed, reason="stop requested")
        return 0


def describe_reason(code: int) -> str:
    return REASONS[code] if 0 <= code < len(REASONS) else str(code)
