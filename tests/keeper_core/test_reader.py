"""keeper.reader against Anvil: one eth_call per block, pinned to the block, chunking and out-of-gas splitting,
retries then skip on RPC errors and timeouts; price history ring buffer and its persistence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chainkit import WAD, AnvilNode, FaultyProvider, Stack, start_stack
from web3 import Web3

from keeper.reader import BlockSkipped, ChainReader, ReaderSettings, StateStore
from keeper.snapshot import PriceHistory

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    node = AnvilNode("--gas-limit", "100000000")
    try:
        s = start_stack(node)
        for i in range(5):
            v = s.deploy_vault() if i % 2 == 0 else s.deploy_vault({"ETH": -1.0})
            s.deposit(v, s.units(10_000 * (i + 1)))
            s.rebalance_to_target(v)
        yield s
    finally:
        node.stop()


def _reader(s: Stack, **kw: object) -> tuple[ChainReader, FaultyProvider]:
    provider = FaultyProvider(s.node.url)
    settings = ReaderSettings(backoff_seconds=0.0, **kw)  # type: ignore[arg-type]
    return ChainReader(Web3(provider), s.lens.address, [v.address for v in s.vaults], settings, sleep=lambda _: None), provider


def test_one_eth_call_per_block_for_every_vault(stack: Stack) -> None:
    reader, provider = _reader(stack)
    snap = reader.read(stack.w3.eth.block_number)
    assert snap.n == 5 and all(r.ok for r in snap.records)
    assert provider.calls == {"eth_getBlockByNumber": 1, "eth_call": 1}
    assert snap.arrays.leverage == pytest.approx([2.0] * 5, abs=0.01)
    assert snap.prices == {0: 2000.0, 1: 60_000.0}


def test_chunks_give_the_same_snapshot(stack: Stack) -> None:
    block = stack.w3.eth.block_number
    whole, _ = _reader(stack)
    parts, provider = _reader(stack, max_vaults_per_call=2)
    assert parts.read(block).records == whole.read(block).records
    assert provider.calls["eth_call"] == 3


def test_out_of_gas_halves_the_chunk(stack: Stack) -> None:
    snap = stack.node.snapshot()
    try:
        stack.node.rpc("evm_setBlockGasLimit", hex(700_000))  # eth_call gas = block gas limit on anvil
        stack.node.mine()
        reader, provider = _reader(stack)
        records = reader.read(stack.w3.eth.block_number).records
        assert len(records) == 5 and all(r.ok for r in records)
        assert provider.calls["eth_call"] > 1
    finally:
        stack.node.revert(snap)


def test_reads_are_pinned_to_the_block(stack: Stack) -> None:
    snap = stack.node.snapshot()
    try:
        reader, _ = _reader(stack)
        n = stack.w3.eth.block_number
        before = reader.read(n)
        stack.set_price("ETH", 2200 * WAD)
        assert reader.read(n).records == before.records
        after = reader.read(n + 1)
        assert after.prices[0] == 2200.0 and after.records != before.records
    finally:
        stack.node.revert(snap)
        stack.prices["ETH"] = 2000 * WAD


@pytest.mark.parametrize("timeouts", [False, True], ids=["connection_errors", "timeouts"])
def test_transient_errors_are_retried_then_the_block_is_skipped(stack: Stack, timeouts: bool) -> None:
    reader, provider = _reader(stack, retries=3)
    provider.timeouts = timeouts
    n = stack.w3.eth.block_number
    provider.fail["eth_call"] = 2
    assert reader.read(n).n == 5  # third attempt succeeds
    assert provider.calls["eth_call"] == 3
    provider.reset()
    provider.fail["eth_call"] = 10
    with pytest.raises(BlockSkipped, match=f"block {n} skipped: getVaults"):
        reader.read(n)
    assert provider.calls["eth_call"] == 4  # 1 + 3 retries, then nothing partial is returned
    provider.reset()
    provider.fail["eth_getBlockByNumber"] = 10
    with pytest.raises(BlockSkipped, match="eth_getBlockByNumber"):
        reader.read(n)
    assert provider.calls["eth_call"] == 0


def test_a_chunk_failure_skips_the_whole_block(stack: Stack) -> None:
    reader, provider = _reader(stack, retries=1, max_vaults_per_call=2)

    real = provider.make_request
    seen = {"n": 0}

    def flaky(method, params):  # type: ignore[no-untyped-def]
        if method == "eth_call":
            seen["n"] += 1
            if seen["n"] >= 2:  # the first chunk succeeds, the second never does
                provider.fail["eth_call"] = 1
        return real(method, params)

    provider.make_request = flaky  # type: ignore[method-assign]
    with pytest.raises(BlockSkipped):
        reader.read(stack.w3.eth.block_number)


def test_market_read_and_cache(stack: Stack) -> None:
    reader, provider = _reader(stack)
    snap = reader.read(stack.w3.eth.block_number)
    market = reader.read_market(snap, [0, 1])
    assert set(market.assets) == {0, 1} and market.token_scale == 10**12 and not market.paused
    assert market.assets[0].skew_scale == 1_000_000 * WAD and market.min_keeper_fee == 2 * WAD
    first = provider.calls["eth_call"]
    reader.read_market(snap, [0])
    assert provider.calls["eth_call"] - first == 3  # two asset states + paused; configs, fees, decimals cached


def test_price_history_ring_buffer_is_incremental_and_idempotent() -> None:
    h = PriceHistory(capacity=3)
    for b in range(1, 6):
        assert h.append(b, 100.0 + b, {7: float(b)})
    assert not h.append(5, 999.0, {7: 99.0})  # the same block twice changes nothing
    assert not h.append(4, 999.0, {7: 99.0})
    blocks, times, prices = h.series(7)
    assert blocks.tolist() == [3, 4, 5] and prices.tolist() == [3.0, 4.0, 5.0] and times.tolist() == [103.0, 104.0, 105.0]
    assert h.latest(7) == (5, 105.0, 5.0) and h.latest(8) is None


def test_state_store_resumes_history_and_last_block(tmp_path: Path) -> None:
    path = tmp_path / "keeper.sqlite"
    store = StateStore(path, capacity=3)
    assert store.last_block() is None
    for b in range(10, 16):
        store.commit_block(b, float(b * 12), {0: 2000.0 + b, 1: 60_000.0})
    store.close()
    again = StateStore(path, capacity=3)
    assert again.last_block() == 15
    h = again.load_history()
    assert h.series(0)[0].tolist() == [13, 14, 15] and h.series(1)[2].tolist() == [60_000.0] * 3
    assert h.last_block == 15
    again.close()
