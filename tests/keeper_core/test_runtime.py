"""The keeper loop against Anvil (integration faults): RPC errors and timeouts on reads, stale oracle, another
keeper acting first, a reorg, the circuit breaker, batching through KeeperBatcher, idempotence per block.
Executor-level faults (stuck transactions, kill -9, resending the same bytes) are covered in tests/keeper."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chainkit import KEEPER_KEY, WAD, AnvilNode, FaultyProvider, Stack, start_stack
from conftest import revert_after
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from keeper.chain import lens as L
from keeper.executor import ErrorDecoder, Executor, FeeCaps, FeePolicy, IntentStatus, Journal
from keeper.ops.balance import SignerBalanceWatch
from keeper.ops.breaker import BreakerMode, CircuitBreaker
from keeper.ops.health import Health
from keeper.ops.logging import configure_logging
from keeper.ops.metrics import KeeperMetrics
from keeper.planner import PlannerSettings
from keeper.reader import ChainReader, ReaderSettings, StateStore
from keeper.runtime import CoreSettings, Keeper

pytestmark = pytest.mark.chain
GWEI = 10**9
REBALANCED = "0x" + keccak(text="Rebalanced(address,uint8,uint256,uint256,uint256,uint8)").hex()


@pytest.fixture(scope="module")
def base() -> Iterator[Stack]:
    node = AnvilNode("--gas-limit", "100000000")
    try:
        yield start_stack(node)
    finally:
        node.stop()


@pytest.fixture
def stack(base: Stack) -> Iterator[Stack]:
    yield from revert_after(base)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("kv", "INFO", stream)
    yield stream
    configure_logging("kv", "INFO")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make_keeper(
    s: Stack,
    db: Path,
    *,
    vaults: list[Any] | None = None,
    batcher: str | None = None,
    confirmations: int = 1,
    breaker: CircuitBreaker | None = None,
    retries: int = 2,
    chunk: int = 100,
    **extra: Any,
) -> tuple[Keeper, FaultyProvider]:
    provider = FaultyProvider(s.node.url)
    w3 = Web3(provider)
    decoder = ErrorDecoder([L.error_abi()])
    executor = Executor(
        w3, Account.from_key(KEEPER_KEY), Journal(db),
        FeePolicy(caps=FeeCaps(max_fee=1_000 * GWEI, prio_fee=50 * GWEI), min_priority_fee=GWEI),
        confirmations=confirmations, stuck_blocks=3, is_benign=L.is_benign, decoder=decoder,
    )
    reader = ChainReader(
        w3, s.lens.address, [v.address for v in (vaults or s.vaults)],
        ReaderSettings(retries=retries, backoff_seconds=0.0, max_vaults_per_call=chunk), sleep=lambda _: None,
    )
    settings = CoreSettings(planner=PlannerSettings(confirm_blocks=1), batcher=batcher, balance_every_blocks=1)
    keeper = Keeper(
        w3, reader, executor, settings=settings, store=StateStore(db), breaker=breaker or CircuitBreaker(3, 300.0),
        decoder=decoder, **extra,
    )
    keeper.start()
    return keeper, provider


def head(s: Stack) -> int:
    return int(s.w3.eth.block_number)


def nonce(s: Stack) -> int:
    return int(s.w3.eth.get_transaction_count(s.keeper))


def rebalanced_events(s: Stack, vault: Any) -> int:
    return len(s.w3.eth.get_logs({"address": vault.address, "topics": [REBALANCED], "fromBlock": 0, "toBlock": "latest"}))


def fresh_vaults(s: Stack, count: int, keepers: tuple[str, ...] | None = None) -> list[Any]:
    out = []
    for i in range(count):
        v = s.deploy_vault(keepers=keepers)
        s.deposit(v, s.units(10_000 * (i + 1)))
        out.append(v)
    return out


def test_levers_fresh_vaults_once_per_block(stack: Stack, tmp_db: Path) -> None:
    vaults = fresh_vaults(stack, 2)
    keeper, provider = make_keeper(stack, tmp_db)
    n = head(stack)
    report = keeper.step(n)
    assert report.status == "processed" and [p.kind for p in report.planned] == ["rebalance", "rebalance"]
    assert [h.status for h in report.submitted] == [IntentStatus.PENDING] * 2
    sent = nonce(stack)
    # the same block again: nothing read, nothing sent
    provider.reset()
    again = keeper.step(n)
    assert again.status == "already_processed" and not again.submitted and nonce(stack) == sent
    assert sum(provider.calls.values()) == 0
    # next block: the executor confirms, the vaults are at target, nothing more to do
    later = keeper.step(head(stack))
    assert later.status == "processed" and not later.planned
    assert all(abs(stack.leverage(v) - 2 * WAD) < WAD // 50 for v in vaults)
    assert keeper.breaker.mode == BreakerMode.CLOSED and keeper.executor is not None and not keeper.executor.in_flight()
    # a restart resumes after the last processed block
    keeper2, _ = make_keeper(stack, tmp_db)
    assert keeper2.last_processed == later.block and keeper2.step(later.block).status == "already_processed"


@pytest.mark.parametrize("timeouts", [False, True], ids=["connection_errors", "timeouts"])
def test_read_faults_skip_the_block_without_acting(stack: Stack, tmp_db: Path, timeouts: bool, logs: io.StringIO) -> None:
    fresh_vaults(stack, 3)
    keeper, provider = make_keeper(stack, tmp_db, retries=2, chunk=1)
    provider.timeouts = timeouts
    n = head(stack)
    before = nonce(stack)
    provider.fail["eth_call"] = 3  # first chunk: three failures = 1 try + 2 retries
    report = keeper.step(n)
    assert report.status == "skipped" and not report.planned and nonce(stack) == before
    assert keeper.last_processed < n and "block_skipped" in logs.getvalue()
    # a later chunk failing is just as fatal: never act on the vaults that were read
    calls = {"n": 0}
    real = provider.make_request

    def third_chunk_fails(method, params):  # type: ignore[no-untyped-def]
        if method == "eth_call":
            calls["n"] += 1
            if calls["n"] == 3:
                provider.fail["eth_call"] = 3
        return real(method, params)

    provider.make_request = third_chunk_fails  # type: ignore[method-assign]
    assert keeper.step(n).status == "skipped" and nonce(stack) == before
    provider.make_request = real  # type: ignore[method-assign]
    # retries that succeed are invisible
    provider.fail["eth_call"] = 2
    ok = keeper.step(n)
    assert ok.status == "processed" and len(ok.submitted) == 3
    assert keeper.breaker.mode == BreakerMode.CLOSED


def test_stale_oracle_pauses_with_an_alert(stack: Stack, tmp_db: Path, logs: io.StringIO) -> None:
    (vault,) = fresh_vaults(stack, 1)
    keeper, _ = make_keeper(stack, tmp_db)
    stack.warp(3_700, refresh=False)  # both feeds older than their 3600 s max age
    before = nonce(stack)
    report = keeper.step(head(stack))
    assert report.stale == [vault.address] and not report.planned and nonce(stack) == before
    text = logs.getvalue()
    assert "ALERT oracle_stale" in text and vault.address in text
    # the contract refuses too
    with pytest.raises(Exception, match="0x"):
        vault.functions.rebalance([(0, WAD, 0)]).call({"from": stack.keeper})
    # one alert per episode, then recovery
    stack.node.mine()
    keeper.step(head(stack))
    assert logs.getvalue().count("ALERT oracle_stale") == 1
    stack.refresh_prices()
    resumed = keeper.step(head(stack))
    assert "oracle_ok" in logs.getvalue() and [p.kind for p in resumed.planned] == ["rebalance"]


def test_another_keeper_acting_first_is_a_benign_noop(stack: Stack, tmp_db: Path) -> None:
    (vault,) = fresh_vaults(stack, 1, keepers=(stack.keeper, stack.rival))
    keeper, _ = make_keeper(stack, tmp_db)
    real = keeper.reader.read_market

    def rival_first(snap, indices):  # type: ignore[no-untyped-def]
        stack.rebalance_to_target(vault, sender=stack.rival)  # lands after our read, before our send
        return real(snap, indices)

    keeper.reader.read_market = rival_first  # type: ignore[method-assign]
    before = nonce(stack)
    report = keeper.step(head(stack))
    assert [h.status for h in report.submitted] == [IntentStatus.NOOP]
    assert "RebalanceIntervalNotElapsed" in (report.submitted[0].reason or "")  # in band now: the interval applies
    assert not report.failures and keeper.breaker.mode == BreakerMode.CLOSED and nonce(stack) == before
    assert rebalanced_events(stack, vault) == 1


def test_reorg_does_not_rebalance_twice(stack: Stack, tmp_db: Path) -> None:
    (vault,) = fresh_vaults(stack, 1)
    keeper, _ = make_keeper(stack, tmp_db, confirmations=3)
    pre = stack.node.snapshot()
    n = head(stack)
    first = keeper.step(n)
    assert len(first.submitted) == 1
    intent = first.submitted[0].intent_id
    keeper.step(head(stack))  # mined, waiting for 3 confirmations
    assert rebalanced_events(stack, vault) == 1
    stack.node.revert(pre)  # the block with our transaction is gone
    stack.node.mine(2)
    assert rebalanced_events(stack, vault) == 0
    for _ in range(6):
        report = keeper.step(head(stack))
        assert not report.submitted, "a second intent was planned while the first was in flight"
        stack.node.mine()
    assert rebalanced_events(stack, vault) == 1
    assert keeper.executor is not None
    handle = keeper.executor.handle(intent)
    assert handle is not None and handle.status == IntentStatus.CONFIRMED
    assert nonce(stack) == 1 and abs(stack.leverage(vault) - 2 * WAD) < WAD // 50


def test_circuit_breaker_trips_and_recovers(stack: Stack, tmp_db: Path, logs: io.StringIO) -> None:
    (vault,) = fresh_vaults(stack, 1)
    role = vault.functions.KEEPER_ROLE().call()
    stack.transact(vault.functions.revokeRole(role, stack.keeper))
    clock = Clock()
    keeper, _ = make_keeper(stack, tmp_db, breaker=CircuitBreaker(2, 100.0, clock=clock))
    for _ in range(2):  # the simulation reverts (no role): two failures open the breaker
        report = keeper.step(head(stack))
        assert report.failures and "AccessControlUnauthorizedAccount" in report.failures[0]
        stack.node.mine()
    assert keeper.breaker.mode == BreakerMode.OPEN
    blocked = keeper.step(head(stack))
    assert blocked.breaker_blocked and not blocked.submitted and "breaker_open" in logs.getvalue()
    stack.node.mine()
    clock.t += 101  # cool-down over: one trial
    stack.transact(vault.functions.grantRole(role, stack.keeper))
    trial = keeper.step(head(stack))
    assert len(trial.submitted) == 1 and keeper.breaker.mode == BreakerMode.HALF_OPEN
    keeper.step(head(stack))  # confirmed -> closed
    assert keeper.breaker.mode == BreakerMode.CLOSED and rebalanced_events(stack, vault) == 1


def test_batcher_sends_one_transaction_and_drops_calls_that_would_fail(stack: Stack, tmp_db: Path) -> None:
    vaults = fresh_vaults(stack, 3, keepers=())
    batcher = stack.deploy_batcher()
    role = vaults[0].functions.KEEPER_ROLE().call()
    stack.transact(vaults[2].functions.revokeRole(role, batcher.address))  # this call would revert in the batch
    keeper, _ = make_keeper(stack, tmp_db, batcher=batcher.address)
    report = keeper.step(head(stack))
    assert len(report.planned) == 3 and len(report.submitted) == 1
    assert len(report.failures) == 1 and "AccessControlUnauthorizedAccount" in report.failures[0]
    assert nonce(stack) == 1
    keeper.step(head(stack))
    assert [rebalanced_events(stack, v) for v in vaults] == [1, 1, 0]
    assert keeper.breaker.mode == BreakerMode.CLOSED  # one failure, then a confirmed batch


def test_batcher_isolates_each_call(stack: Stack) -> None:
    a, b = fresh_vaults(stack, 2, keepers=())
    batcher = stack.deploy_batcher()
    plan_a = stack.adjustments(a, stack.plan(a)[2])
    calls = [(a.address, 1, plan_a), (b.address, 1, [(7, WAD, 0)]), (b.address, 2, [])]
    results = batcher.functions.execute(calls, False).call({"from": stack.keeper})
    assert [ok for ok, _ in results] == [True, False, False]
    decoder = ErrorDecoder([L.error_abi()])
    assert decoder.decode(results[1][1]).name == "AssetNotInVault" and decoder.decode(results[2][1]).name == "NoPendingRebalance"
    receipt = stack.transact(batcher.functions.execute(calls, True), sender=stack.keeper)
    topics = ["0x" + bytes(log["topics"][0]).hex() for log in receipt["logs"] if log["address"] == batcher.address]
    assert [L.BATCH_EVENTS[t] for t in topics] == ["CallSucceeded", "CallFailed", "CallFailed"]
    assert rebalanced_events(stack, a) == 1
    for sender, error in ((stack.rival, "NotOperator"), (stack.keeper, "NoCallSucceeded")):
        with pytest.raises(Exception) as info:
            batcher.functions.execute([(b.address, 2, [])], True).call({"from": sender})
        assert decoder.from_exception(info.value).name == error  # type: ignore[arg-type]
    assert batcher.functions.isOperator(stack.keeper).call() and not batcher.functions.isOperator(stack.rival).call()


def test_quiet_blocks_cost_one_eth_call(stack: Stack, tmp_db: Path) -> None:
    fresh_vaults(stack, 2)
    keeper, provider = make_keeper(stack, tmp_db)
    keeper.step(head(stack))
    keeper.step(head(stack))  # confirmations
    for _ in range(3):
        stack.node.mine()
        provider.reset()
        report = keeper.step(head(stack))
        assert not report.planned
        assert provider.calls["eth_call"] == 1 and provider.calls["eth_getBlockByNumber"] == 1
        assert sum(provider.calls.values()) == 2, dict(provider.calls)


def test_metrics_health_and_signer_balance(stack: Stack, tmp_db: Path, logs: io.StringIO) -> None:
    (vault,) = fresh_vaults(stack, 1)
    metrics = KeeperMetrics()
    health = Health(60.0)
    watch = SignerBalanceWatch(10**30, metrics)  # more than any dev account holds: ALERT
    keeper, _ = make_keeper(stack, tmp_db, metrics=metrics, health=health, balance_watch=watch)
    assert not health.check()[0]
    keeper.step(head(stack))
    keeper.step(head(stack))
    ok, body = health.check()
    assert ok and body["last_block"] == keeper.last_processed
    text = metrics.render().decode()
    assert f'keeper_vault_leverage{{vault="{vault.address}"}} 2.0' in text
    assert "keeper_blocks_processed_total 2.0" in text and "keeper_intents_in_flight 0.0" in text
    assert "ALERT signer_balance_low" in logs.getvalue()
