"""Differential test: keeper.vault_rules predicts the deployed vault's answer to rebalance / iterate / ripcord.

For fuzzed vault states (policy, prices, third-party skew, pending chunks, pause, elapsed time, stale feeds) and
fuzzed keeper adjustments (fractions of the full delta, wrong signs, duplicates, unknown assets, zero sizes,
explicit acceptable prices), Python's prediction must equal the contract's:
  - a revert: the same custom error with the same arguments (an oracle error for an unusable price);
  - a success: the same leverageBefore / leverageAfter / traded notional / pending mask as the emitted event.
The call runs in a block with the same timestamp as the block the prediction read, and funding is off in this
market, so every integer must match exactly. Runs KEEPER_DIFF_EXAMPLES examples per action (default 100 for
rebalance, 40 for iterate and ripcord; fixed seed).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from chainkit import WAD, AnvilNode, Stack, all_abis, default_params, params_tuple, start_stack
from eth_abi.abi import decode as abi_decode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractLogicError

from keeper import vault_rules as R
from keeper.executor.revert import ErrorDecoder
from keeper.reader import ChainReader
from keeper.snapshot import MarketInfo, VaultRecord

pytestmark = pytest.mark.chain

EXAMPLES = int(os.environ.get("KEEPER_DIFF_EXAMPLES", "0"))
ORACLE_ERRORS = {
    "UnknownAsset", "FeedCallFailed", "NonPositivePrice", "ZeroTimestamp", "FutureTimestamp", "StalePrice",
    "PriceDeviation", "SequencerDown", "SequencerGracePeriod",
}
REBALANCED = "0x" + bytes(__import__("eth_utils").keccak(text="Rebalanced(address,uint8,uint256,uint256,uint256,uint8)")).hex()
RIPCORD_EV = "0x" + bytes(__import__("eth_utils").keccak(text="Ripcord(address,uint256,uint256,uint256,uint256)")).hex()


class Diff:
    def __init__(self, stack: Stack) -> None:
        self.s = stack
        self.decoder = ErrorDecoder(all_abis())
        self.trader = stack.accounts[6]
        s = stack
        s.transact(s.token.functions.mint(self.trader, 10_000_000 * 10**s.decimals))
        s.transact(s.token.functions.approve(s.market.address, 2**256 - 1), sender=self.trader)
        s.transact(s.market.functions.depositMargin(5_000_000 * 10**s.decimals), sender=self.trader)
        self.vault_a = s.deploy_vault({"ETH": 0.6, "BTC": 0.4})
        self.vault_b = s.deploy_vault({"ETH": -0.5, "BTC": 0.5})
        for v in (self.vault_a, self.vault_b):
            s.deposit(v, s.units(100_000))
            s.rebalance_to_target(v)
        self.base_prices = dict(s.prices)
        self.base = s.node.snapshot()

    def reset(self) -> None:
        self.s.node.revert(self.base)
        self.base = self.s.node.snapshot()
        self.s.prices.clear()
        self.s.prices.update(self.base_prices)

    # -- state ------------------------------------------------------------------------------------------------

    def trade(self, symbol: str, size: int) -> None:
        if size:
            s = self.s
            limit = 2**255 if size > 0 else 1
            s.transact(s.market.functions.modifyPosition(s.asset_ids[symbol], size, limit, 2**64), sender=self.trader)

    def settle_block(self, advance: int, refresh: bool) -> int:
        """Advance time, refresh (or not) the feeds, and return the latest block's timestamp; the next block is
        pinned to the same timestamp."""
        s = self.s
        if advance:
            s.node.rpc("evm_increaseTime", advance)
        if refresh:
            s.refresh_prices()
        else:
            s.node.mine()
        ts = s.timestamp()
        return ts

    def record(self, vault: Any) -> tuple[VaultRecord, MarketInfo]:
        s = self.s
        reader = ChainReader(s.w3, s.lens.address, [vault.address])
        snap = reader.read(s.w3.eth.block_number)
        return snap.records[0], reader.read_market(snap, [0])

    # -- calls ------------------------------------------------------------------------------------------------

    def call(self, fn: Any, sender: str) -> tuple[str | None, tuple[Any, ...]]:
        try:
            fn.call({"from": sender, "gas": 15_000_000})
        except ContractLogicError as exc:
            decoded = self.decoder.from_exception(exc)
            return decoded.name or f"unknown {decoded.selector}", decoded.args
        return None, ()

    def send(self, fn: Any, sender: str, ts: int) -> Any:
        self.s.node.rpc("evm_setNextBlockTimestamp", ts)
        return self.s.transact(fn, sender=sender, gas=15_000_000)


@pytest.fixture(scope="module")
def diff() -> Iterator[Diff]:
    node = AnvilNode("--gas-limit", "100000000")
    try:
        yield Diff(start_stack(node, decimals=6, max_funding_rate=0))
    finally:
        node.stop()


def _params(draw: Any, decimals: int, small_trades: bool = False, tight_ripcord: bool = False) -> dict[str, int]:
    step = WAD // 100
    target = draw(st.integers(100, 400)) * step
    lo = draw(st.integers(5, 60)) * step
    hi = draw(st.integers(5, 60)) * step
    ripcord_gap = draw(st.integers(1, 10 if tight_ripcord else 80)) * step
    cap_gap = draw(st.integers(0, 100)) * step
    min_lev = max(step, target - lo)
    max_lev = target + hi
    ripcord = max_lev + ripcord_gap
    cap = min(ripcord + cap_gap, 15 * WAD)
    tol_max = min(target - min_lev, max_lev - target)
    tolerance = draw(st.sampled_from([tol_max // 2, 0, tol_max // 4, tol_max]))
    chunk = draw(st.sampled_from([300, 0, 60]))
    interval = chunk + draw(st.sampled_from([86_400, 0, 100]))
    max_slip = draw(st.sampled_from([WAD // 100, WAD // 1000, 5 * WAD // 100]))
    trades = [20_000, 60_000, 2_000] if small_trades else [500_000, 20_000, 2_000, 60_000]
    max_trade = draw(st.sampled_from(trades)) * WAD
    return default_params(
        decimals,
        minLeverage=min_lev,
        targetLeverage=target,
        maxLeverage=max_lev,
        leverageCap=cap,
        tolerance=tolerance,
        minImprovement=draw(st.sampled_from([5 * WAD // 100, 0, WAD // 100, 30 * WAD // 100])),
        maxSlippage=max_slip,
        rebalanceInterval=interval,
        chunkCooldown=chunk,
        maxTradeNotional=max_trade,
        ripcordLeverage=ripcord,
        ripcordSlippage=draw(st.sampled_from([max_slip, 10 * WAD // 100])),
        ripcordCooldown=draw(st.sampled_from([0, min(chunk, 30)])),
        ripcordMaxTradeNotional=max_trade * draw(st.sampled_from([1, 3])),
        ripcordMarginBuffer=draw(st.sampled_from([0, WAD // 2, WAD])),
    )


def _state(d: Diff, draw: Any, wide_prices: bool = False, force_pending: bool = False) -> tuple[Any, int]:
    """Draw and apply a vault state; returns (vault, timestamp of the block the call will run in)."""
    s = d.s
    d.reset()
    vault = draw(st.sampled_from([d.vault_a, d.vault_b]))
    d.trade("ETH", draw(st.sampled_from([0, 500 * WAD, -800 * WAD, 20_000 * WAD, -30_000 * WAD])))
    d.trade("BTC", draw(st.sampled_from([0, 10 * WAD, -25 * WAD])))
    p = _params(draw, s.decimals, small_trades=force_pending, tight_ripcord=wide_prices)
    s.transact(vault.functions.setParams(params_tuple(p)))
    lo, hi = (60, 150) if wide_prices else (75, 135)
    if force_pending:
        lo, hi = (84, 92) if draw(st.booleans()) else (115, 140)
    s.set_price("ETH", s.prices["ETH"] * draw(st.integers(lo, hi)) // 100)
    s.set_price("BTC", s.prices["BTC"] * draw(st.integers(lo, hi)) // 100)
    if force_pending or draw(st.booleans()):  # try to leave a pending chunked rebalance behind
        s.warp(p["chunkCooldown"] + 1)
        action, _, sizes = s.plan(vault)
        if action == R.REBALANCE:
            try:
                s.transact(vault.functions.rebalance(s.adjustments(vault, sizes)), sender=s.keeper)
            except Exception:  # a refused chunk is also a valid state to fuzz from
                pass
        if draw(st.booleans()):
            s.set_price("ETH", s.prices["ETH"] * draw(st.integers(90, 112)) // 100)
    if draw(st.integers(0, 5)) == 5:
        s.transact(vault.functions.pause())
    advance = draw(st.sampled_from([86_401, 301, 3_000, 61, 30, 1, 0, 299]))
    stale = draw(st.integers(0, 12)) == 12
    ts = d.settle_block(3_700 if stale else advance, refresh=not stale)
    return vault, ts


def _compare(d: Diff, out: R.Outcome, chain_error: str | None, chain_args: tuple[Any, ...]) -> None:
    if not out.exact and (chain_error is None or chain_error == out.error):
        return
    if out.ok:
        assert chain_error is None, f"python accepts ({out.describe}) but the vault reverts {chain_error}{chain_args}"
        return
    assert chain_error is not None, f"python predicts {out.describe} but the vault accepts"
    if out.error == "OraclePriceUnusable":
        assert chain_error in ORACLE_ERRORS, (out.describe, chain_error, chain_args)
        return
    assert chain_error == out.error, (out.describe, chain_error, chain_args)
    assert tuple(int(a) if not isinstance(a, bool) else a for a in chain_args) == out.args, (out.describe, chain_args)


def _event(receipt: Any, topic: str) -> bytes:
    for log in receipt["logs"]:
        if log["topics"] and "0x" + bytes(log["topics"][0]).hex() == topic:
            return bytes(log["data"])
    raise AssertionError(f"no event {topic}")


def _adjustments(draw: Any, rec: VaultRecord) -> list[tuple[int, int, int]]:
    equity = rec.account.equity
    target = rec.params.target_leverage
    out: list[tuple[int, int, int]] = []
    order = draw(st.permutations(range(len(rec.positions))))
    for i in order:
        pos = rec.positions[i]
        if draw(st.integers(0, 4)) == 4:
            continue
        full = 0
        if pos.price and equity > 0:
            full = R.mul_div_to_zero(R.mul_div_to_zero(R.policy_exposure(pos.weight, target), equity, WAD), WAD, pos.price) - pos.size
        kind = draw(st.integers(0, 9))
        if kind <= 5 or full == 0:
            frac = draw(st.sampled_from([100, 50, 90, 101, 30, 10, 150, 250, -50, -150]))
            delta = full * frac // 100 if full else draw(st.sampled_from([1, -1])) * draw(st.integers(1, 30)) * WAD // 10
        elif kind == 6:
            delta = 0
        elif kind == 7:
            delta = -pos.size - draw(st.integers(0, 2)) * WAD
        else:
            delta = draw(st.integers(-5 * WAD, 5 * WAD))
        limit = 0
        if draw(st.integers(0, 5)) == 5 and pos.price and delta:
            bound = R.acceptable_bound(pos.price, delta, rec.params.max_slippage)
            limit = bound + draw(st.sampled_from([-pos.price // 500, -1, 0, 1]))
        out.append((pos.asset_id, delta, limit))
    if out and draw(st.integers(0, 15)) == 15:
        out.append(out[0])
    if draw(st.integers(0, 20)) == 20:
        out.append((7, WAD, 0))
    return out


CFG = dict(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


@settings(max_examples=EXAMPLES or 100, **CFG)  # type: ignore[arg-type]
@given(data=st.data())
def test_rebalance_matches_contract(diff: Diff, data: st.DataObject) -> None:
    vault, ts = _state(diff, data.draw)
    rec, market = diff.record(vault)
    adjustments = _adjustments(data.draw, rec)
    out = R.simulate_rebalance(rec, adjustments, market, ts)
    fn = vault.functions.rebalance(adjustments)
    error, args = diff.call(fn, diff.s.keeper)
    _compare(diff, out, error, args)
    if out.ok and error is None:
        receipt = diff.send(fn, diff.s.keeper, ts)
        before, after, traded, mask = abi_decode(["uint256", "uint256", "uint256", "uint8"], _event(receipt, REBALANCED))
        assert (before, after, traded, mask) == (out.leverage_before, out.leverage_after, out.traded, out.pending_mask)


@settings(max_examples=EXAMPLES or 40, **CFG)  # type: ignore[arg-type]
@given(data=st.data())
def test_iterate_matches_contract(diff: Diff, data: st.DataObject) -> None:
    vault, ts = _state(diff, data.draw, force_pending=True)
    rec, market = diff.record(vault)
    out = R.simulate_iterate(rec, market, ts)
    fn = vault.functions.iterate()
    error, args = diff.call(fn, diff.s.keeper)
    _compare(diff, out, error, args)
    if out.ok and error is None and out.traded:
        receipt = diff.send(fn, diff.s.keeper, ts)
        before, after, traded, mask = abi_decode(["uint256", "uint256", "uint256", "uint8"], _event(receipt, REBALANCED))
        assert (before, after, traded, mask) == (out.leverage_before, out.leverage_after, out.traded, out.pending_mask)


@settings(max_examples=EXAMPLES or 40, **CFG)  # type: ignore[arg-type]
@given(data=st.data())
def test_ripcord_matches_contract(diff: Diff, data: st.DataObject) -> None:
    vault, ts = _state(diff, data.draw, wide_prices=True)
    rec, market = diff.record(vault)
    out = R.simulate_ripcord(rec, market, ts)
    fn = vault.functions.ripcord()
    error, args = diff.call(fn, diff.s.accounts[4])
    _compare(diff, out, error, args)
    if out.ok and error is None:
        receipt = diff.send(fn, diff.s.accounts[4], ts)
        before, after, cut, _ = abi_decode(["uint256", "uint256", "uint256", "uint256"], _event(receipt, RIPCORD_EV))
        assert (before, after, cut) == (out.leverage_before, out.leverage_after, out.cut)


def test_diff_outcomes_cover_the_rules(diff: Diff) -> None:
    """The fuzzed examples above must reach accepts and the main rejections; run a fixed set of named states."""
    s = diff.s
    diff.reset()
    vault = diff.vault_a
    rec, market = diff.record(vault)
    ts = s.timestamp()
    # interval in band
    out = R.simulate_rebalance(rec, [(s.asset_ids["ETH"], -WAD, 0)], market, ts)
    assert out.error == "RebalanceIntervalNotElapsed"
    assert diff.call(vault.functions.rebalance([(s.asset_ids["ETH"], -WAD, 0)]), s.keeper)[0] == out.error
