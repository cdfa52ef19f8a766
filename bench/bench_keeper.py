"""Keeper-core benchmarks; prints markdown tables. Run: `python bench/bench_keeper.py` (needs `ape compile` output
and anvil on PATH or in node_modules/.bin). Options: --quick (fewer repeats, 40 chain vaults instead of 100).

1. Decision time for 1, 100 and 10,000 synthetic vaults: the vectorised planner (keeper.planner.select) against a
   straightforward per-vault Python loop with the same decisions (tests/keeper_core/reference.py, checked equal in
   the test suite), plus the exact stage (keeper.planner.finalize) for the vaults that act.
2. RPC calls per block against vault count (1, 10, 100 vaults deployed on Anvil), counted at the HTTP provider,
   for a quiet block (nothing to do) and a block where every vault acts; eth_call gas and answer size.
3. Gas per vault: rebalances sent one transaction each against one KeeperBatcher transaction.
4. A price push to the rebalance it triggers, on Anvil: blocks between them and the keeper's wall-clock latency.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "keeper_core"))

import numpy as np  # noqa: E402
from chainkit import KEEPER_KEY, AnvilNode, FaultyProvider, Stack, start_stack  # noqa: E402
from eth_account import Account  # noqa: E402
from reference import select_loop  # noqa: E402
from web3 import Web3  # noqa: E402

from keeper import planner as P  # noqa: E402
from keeper.chain import lens as L  # noqa: E402
from keeper.executor import ErrorDecoder, Executor, FeeCaps, FeePolicy, Journal  # noqa: E402
from keeper.reader import ChainReader, ReaderSettings  # noqa: E402
from keeper.runtime import CoreSettings, Keeper  # noqa: E402
from keeper.snapshot import synthetic_market, synthetic_snapshot  # noqa: E402

GWEI = 10**9


def timed(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time in ms."""
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def table(head: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


# --- 1. decision time -------------------------------------------------------------------------------------------


def bench_decision(quick: bool) -> None:
    print("## Decision time (synthetic snapshots, policy targets)\n")
    settings = P.PlannerSettings(confirm_blocks=1)
    rows = []
    for n in (1, 100, 10_000):
        snap = synthetic_snapshot(n, seed=11)
        market = P.market_from_snapshot(snap, synthetic_market())
        target = np.full(snap.arrays.slot.shape, np.nan)
        reps = 5 if quick else (30 if n == 10_000 else 200)
        vec = timed(lambda: P.select(snap, target, P.PlannerMemory(n), settings), reps)
        loop = timed(lambda: select_loop(snap, [0] * n, settings), max(3, reps // 5))
        sel = P.select(snap, target, P.PlannerMemory(n), settings)
        fin = timed(lambda: P.finalize(snap, sel, market, settings), max(3, reps // 5))
        rows.append([
            f"{n:,}", f"{len(sel.indices):,}", f"{vec:.3f}", f"{loop:.3f}", f"{loop / vec:.1f}x", f"{fin:.3f}", f"{vec + fin:.3f}",
        ])
    table(
        ["vaults", "acting", "select, numpy (ms)", "select, per-vault loop (ms)", "speed-up", "finalize, acting only (ms)", "decision total (ms)"],
        rows,
    )
    runner = P.StrategyRunner("vol_target", {"target_vol": 0.5, "max_leverage": 3})
    snap = synthetic_snapshot(10_000, seed=11)
    runner.observe(snap)
    strat = timed(lambda: runner.targets(snap, synthetic_market()), 3 if quick else 20)
    print(f"Strategy targets for 10,000 vaults with `vol_target` (estimators, strategy, overlay): {strat:.2f} ms.\n")


# --- chain helpers ----------------------------------------------------------------------------------------------


def keeper_for(s: Stack, vaults: list[Any], db: Path, batcher: str | None = None) -> tuple[Keeper, FaultyProvider]:
    provider = FaultyProvider(s.node.url)
    w3 = Web3(provider)
    decoder = ErrorDecoder([L.error_abi()])
    ex = Executor(
        w3, Account.from_key(KEEPER_KEY), Journal(db), FeePolicy(caps=FeeCaps(1_000 * GWEI, 50 * GWEI), min_priority_fee=GWEI),
        confirmations=1, is_benign=L.is_benign, decoder=decoder,
    )
    reader = ChainReader(w3, s.lens.address, [v.address for v in vaults], ReaderSettings(backoff_seconds=0.0))
    k = Keeper(w3, reader, ex, settings=CoreSettings(planner=P.PlannerSettings(confirm_blocks=1), batcher=batcher, max_batch=50), decoder=decoder)
    k.start()
    return k, provider


def deploy_vaults(s: Stack, count: int, lever: bool) -> list[Any]:
    out = []
    for i in range(count):
        v = s.deploy_vault()
        s.deposit(v, s.units(10_000 + 100 * i))
        if lever:
            s.rebalance_to_target(v)
        out.append(v)
    return out


def deploy_batcher_for(s: Stack, vaults: list[Any]) -> str:
    from chainkit import deploy

    batcher = deploy(s, "KeeperBatcher", s.governance, [s.keeper])
    role = vaults[0].functions.KEEPER_ROLE().call()
    for v in vaults:
        s.transact(v.functions.grantRole(role, batcher.address))
    return str(batcher.address)


# --- 2. RPC calls per block -------------------------------------------------------------------------------------


def bench_rpc(s: Stack, count: int) -> None:
    print(f"## RPC calls per block (Anvil, {count} vaults deployed)\n")
    snap0 = s.node.snapshot()
    vaults = deploy_vaults(s, count, lever=False)
    levered = s.node.snapshot()
    rows = []
    for n in sorted({1, 10, count}):
        part = vaults[:n]
        s.node.revert(levered)
        levered = s.node.snapshot()
        with tempfile.TemporaryDirectory() as d:
            k, provider = keeper_for(s, part, Path(d) / "k.sqlite")
            provider.reset()
            acting = k.step(int(s.w3.eth.block_number))
            act_calls = dict(provider.calls)
            for _ in range(2):  # confirmations; then a quiet block
                k.step(int(s.w3.eth.block_number))
            s.node.mine()
            provider.reset()
            quiet = k.step(int(s.w3.eth.block_number))
            quiet_calls = dict(provider.calls)
        assert not quiet.planned and len(acting.planned) == n
        s.node.revert(levered)
        levered = s.node.snapshot()
        with tempfile.TemporaryDirectory() as d:
            batcher = deploy_batcher_for(s, part)
            k, provider = keeper_for(s, part, Path(d) / "k.sqlite", batcher)
            provider.reset()
            batched = k.step(int(s.w3.eth.block_number))
            batch_calls = sum(provider.calls.values())
        assert len(batched.planned) == n and len(batched.submitted) == -(-n // 50)
        data = L.encode_get_vaults([v.address for v in part])
        gas = int(s.w3.eth.estimate_gas({"to": s.lens.address, "data": "0x" + data.hex()}))
        size = len(bytes(s.w3.eth.call({"to": s.lens.address, "data": "0x" + data.hex()})))
        rows.append([
            str(n), str(quiet_calls.get("eth_call", 0)), str(sum(quiet_calls.values())),
            ", ".join(f"{m} {c}" for m, c in sorted(quiet_calls.items())),
            str(act_calls.get("eth_call", 0)), str(sum(act_calls.values())), str(batch_calls), f"{gas:,}", f"{size / 1024:.1f}",
        ])
    table(
        ["vaults", "eth_call, quiet block", "all RPC, quiet block", "quiet block by method", "eth_call, every vault acts",
         "all RPC, every vault acts", "all RPC, every vault acts, batched", "getVaults gas", "answer (KiB)"],
        rows,
    )
    print(
        "Quiet block: eth_getBlockByNumber (hash, timestamp) + one pinned getVaults eth_call; eth_blockNumber polling is "
        "extra (one per poll interval). Acting blocks add the venue read (asset states, pause) and, per transaction, the "
        "executor's simulation, estimate, fee history, nonce, send and receipt.\n"
    )
    s.node.revert(snap0)
    s.vaults.clear()
    s.modules.clear()


# --- 3. gas per vault: batched vs single -------------------------------------------------------------------------


def bench_gas(s: Stack) -> None:
    print("## Gas per vault: single transactions vs one KeeperBatcher transaction (rebalance of a fresh deposit to 2x)\n")
    snap0 = s.node.snapshot()
    vaults = deploy_vaults(s, 20, lever=False)
    batcher = s.deploy_batcher()
    ready = s.node.snapshot()
    rows = []
    for n in (1, 5, 10, 20):
        part = vaults[:n]
        s.node.revert(ready)
        ready = s.node.snapshot()
        calls = [(v.address, 1, s.adjustments(v, s.plan(v)[2])) for v in part]
        single = 0
        for v, _, adj in calls:
            single += int(s.transact(s.contract("ScalingVault", v).functions.rebalance(adj), sender=s.keeper)["gasUsed"])
        s.node.revert(ready)
        ready = s.node.snapshot()
        receipt = s.transact(batcher.functions.execute(calls, True), sender=s.keeper, gas=29_000_000)
        batched = int(receipt["gasUsed"])
        rows.append([str(n), f"{single // n:,}", f"{batched // n:,}", f"{(single - batched) / single * 100:.1f}%"])
    table(["vaults", "single tx, gas per vault", "batched, gas per vault", "saved"], rows)
    s.node.revert(snap0)
    s.vaults.clear()
    s.modules.clear()
    s.batcher = None


# --- 4. price push -> rebalance ------------------------------------------------------------------------------


def bench_latency(s: Stack, repeats: int) -> None:
    print("## Price push to rebalance (Anvil, automine: every transaction is its own block)\n")
    snap0 = s.node.snapshot()
    rows = []
    for kind in ("single", "batcher"):
        s.node.revert(snap0)
        snap0 = s.node.snapshot()
        s.modules.clear()
        vaults = deploy_vaults(s, 3, lever=True)
        batcher = s.deploy_batcher().address if kind == "batcher" else None
        s.warp(400)  # past the chunk cooldown
        with tempfile.TemporaryDirectory() as d:
            k, _ = keeper_for(s, vaults, Path(d) / "k.sqlite", batcher)
            k.step(int(s.w3.eth.block_number))
            gaps, totals = [], []
            for r in range(repeats):
                pct = 80 if r % 2 == 0 else 125  # out of band each time (alternating direction)
                s.set_price("ETH", s.prices["ETH"] * pct // 100)
                s.set_price("BTC", s.prices["BTC"] * pct // 100)
                push_block = int(s.w3.eth.block_number)
                t = time.perf_counter()
                report = k.step(push_block)
                totals.append((time.perf_counter() - t) * 1000)
                assert report.submitted, report.failures
                receipt_block = int(s.w3.eth.block_number)
                gaps.append(receipt_block - push_block)
                k.step(receipt_block)  # confirm
                s.warp(400)
                k.step(int(s.w3.eth.block_number))
        rows.append([
            kind, str(len(vaults)), f"{max(gaps) if kind == 'batcher' else max(gaps) - len(vaults) + 1}",
            f"{statistics.median(totals):.1f}", f"{max(totals):.1f}",
        ])
        s.vaults.clear()
        s.batcher = None
    s.node.revert(snap0)
    s.modules.clear()
    table(["mode", "vaults out of band", "blocks from price push to (first) rebalance", "keeper step, median (ms)", "max (ms)"], rows)
    print(
        "The step covers: executor poll, pinned read of every vault, decision, venue read, exact check, and per "
        "transaction simulation + fee quote + signing + journal + broadcast. In `keeper run`, add up to one "
        "poll interval between the block and the step.\n"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print("# Keeper benchmarks\n")
    bench_decision(args.quick)
    node = AnvilNode("--gas-limit", "100000000")
    try:
        s = start_stack(node)
        bench_rpc(s, 40 if args.quick else 100)
        bench_gas(s)
        bench_latency(s, 2 if args.quick else 6)
    finally:
        node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
