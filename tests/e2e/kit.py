"""Helpers of the end-to-end scenarios: exact revert decoding, the market-event ledger, and the checks shared by
several scenarios (their IDs are in INVARIANTS.md).

Units: token units for ERC-4626 amounts, rewards, fees and realized PnL (as the market emits them); WAD for
prices, sizes, notionals and leverage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ape
import yaml
from eth_abi.abi import decode as abi_decode
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError

from keeper.chain.scenario_runner import Summary

WAD = 10**18
VIRTUAL_SHARES = 10**6  # ScalingVault._decimalsOffset() = 6
STALE = 5  # IPriceOracle.PriceStatus.STALE
ERROR_STRING = HexBytes("0x08c379a0")
LOCAL_CONFIG = Path(__file__).resolve().parents[2] / "config" / "deploy" / "local.yaml"


def local_raw() -> dict[str, Any]:
    """config/deploy/local.yaml as a mapping (6-decimal collateral, ETH and BTC, one 2x vault)."""
    raw: dict[str, Any] = yaml.safe_load(LOCAL_CONFIG.read_text())
    return raw


# ----------------------------------------------------------------------------------------------- reverts


def decode_revert(contract: Any, data: bytes) -> tuple[str, dict[str, Any]]:
    """(error name, decoded arguments by name) of raw revert data against the contract's ABI."""
    data = HexBytes(data)
    if data[:4] == ERROR_STRING:
        return "Error", {"message": abi_decode(["string"], data[4:])[0]}
    errors = contract.contract_type.errors
    assert data[:4] in errors, f"revert data {data.hex()} is not an error of {contract.contract_type.name}"
    abi = errors[data[:4]]
    return abi.name, dict(ape.chain.provider.network.ecosystem.decode_calldata(abi, data[4:]))


def tx_revert(
    contract: Any, method: str, *args: Any, sender: Any, gas: int = 3_000_000
) -> tuple[str, dict[str, Any], Any]:
    """Send `contract.method(*args)` as a real transaction with a fixed gas limit (no estimate, so it is mined even
    though it reverts) and decode the revert data from the node's call trace. Returns (name, args, receipt); fails
    when the transaction succeeds."""
    receipt = getattr(contract, method)(*args, sender=sender, gas=gas, raise_on_revert=False)
    assert receipt.failed, f"{method}{args} from {sender} was mined successfully"
    answer = ape.chain.provider.web3.provider.make_request(
        "debug_traceTransaction", [str(receipt.txn_hash), {"tracer": "callTracer"}]
    )
    name, decoded = decode_revert(contract, HexBytes(answer["result"]["output"]))
    return name, decoded, receipt


def call_revert(contract: Any, method: str, *args: Any, sender: Any = None) -> tuple[str, dict[str, Any]]:
    """(name, args) of an eth_call that must revert (views: `ape.reverts` cannot see their revert data here)."""
    tx: dict[str, Any] = {"to": contract.address, "data": getattr(contract, method).encode_input(*args)}
    if sender is not None:
        tx["from"] = sender.address
    try:
        ape.chain.provider.web3.eth.call(tx)
    except ContractLogicError as err:
        return decode_revert(contract, HexBytes(str(err.data)))
    raise AssertionError(f"{method}{args} did not revert")


# ----------------------------------------------------------------------------------------------- ledger


@dataclass
class Ledger:
    """The vault's token flows, rebuilt from events only (blocks >= start)."""

    deposited: int  # ERC-4626 Deposit assets
    exited: int  # ERC-4626 Withdraw assets
    rewards: int  # Ripcord rewards paid out
    margin_in: int  # market MarginDeposited by the vault
    margin_out: int  # market MarginWithdrawn by the vault
    realized: int  # PositionModified realizedPnl
    fees: int  # PositionModified fee
    funding: int  # PositionModified fundingPaid (settled funding)
    impact_wad: int  # sum of sizeDelta * (fill - oracle price) over the vault's trades (needs `prices`)
    traded_wad: int  # sum of |sizeDelta| * fill
    trades: int


def _logs(event: Any, start: int, topics: dict[str, Any] | None = None) -> list[Any]:
    stop = int(ape.chain.blocks.head.number) + 1
    return list(event.range(start, stop, search_topics=topics or {}))


def build_ledger(market: Any, vault: Any, start: int, prices: dict[int, int] | None = None) -> Ledger:
    """`prices`: asset id -> WAD oracle price, for scenarios whose prices never move (impact = fill - price)."""
    who = {"account": vault.address}
    trades = _logs(market.PositionModified, start, who)
    impact = 0
    if prices is not None:
        impact = sum(int(t.sizeDelta) * (int(t.fillPrice) - prices[int(t.assetId)]) // WAD for t in trades)
    return Ledger(
        deposited=sum(int(e.assets) for e in _logs(vault.Deposit, start)),
        exited=sum(int(e.assets) for e in _logs(vault.Withdraw, start)),
        rewards=sum(int(e.reward) for e in _logs(vault.Ripcord, start)),
        margin_in=sum(int(e.amount) for e in _logs(market.MarginDeposited, start, who)),
        margin_out=sum(int(e.amount) for e in _logs(market.MarginWithdrawn, start, who)),
        realized=sum(int(t.realizedPnl) for t in trades),
        fees=sum(int(t.fee) for t in trades),
        funding=sum(int(t.fundingPaid) for t in trades),
        impact_wad=impact,
        traded_wad=sum(abs(int(t.sizeDelta)) * int(t.fillPrice) // WAD for t in trades),
        trades=len(trades),
    )


def assert_ledger_balances(market: Any, token: Any, vault: Any, start: int) -> Ledger:
    """E2E-3: events account for every token of the vault, to the unit (`start`: the vault's deployment block)."""
    led = build_ledger(market, vault, start)
    idle = int(token.balanceOf(vault))
    collateral = int(market.collateralOf(vault))
    assert idle == led.deposited - led.exited - led.rewards - led.margin_in + led.margin_out, (
        f"E2E-3 idle tokens {idle} != flows {led}"
    )
    expected = led.margin_in - led.margin_out + led.realized - led.fees - led.funding
    assert collateral == expected, f"E2E-3 market collateral {collateral} != flows {expected} ({led})"
    return led


# ----------------------------------------------------------------------------------------------- shared checks


def holders(runner: Any) -> dict[str, Any]:
    return {name: acct for name, acct in runner.actors.items() if int(runner.vault.balanceOf(acct)) > 0}


def assert_pro_rata(vault: Any, accounts_by_name: dict[str, Any], where: str = "") -> None:
    """E2E-4: every holder's value is its share of totalAssets (one unit of rounding); together <= totalAssets."""
    total = int(vault.totalAssets())
    supply = int(vault.totalSupply())
    held = 0
    for name, acct in accounts_by_name.items():
        balance = int(vault.balanceOf(acct))
        value = int(vault.convertToAssets(balance))
        share = total * balance // supply if supply else 0
        assert abs(value - share) <= 1, f"E2E-4 {where} {name}: convertToAssets {value} != {share} (= TA * bal / supply)"
        held += value
    assert held <= total, f"E2E-4 {where}: holders hold {held} > totalAssets {total}"


def assert_keeper_txs_clean(summary: Summary, *, expect_some: bool = True) -> None:
    """E2E-6: every audited keeper transaction succeeded and emitted Rebalanced or Ripcord."""
    audit = summary.keeper_tx_audit
    bad = [t for t in audit if t.status != 1 or not t.effective]
    assert not bad, f"E2E-6 keeper transactions reverted or without effect: {bad}"
    assert summary.reverted_keeper_txs == 0, f"E2E-6 reverted keeper transactions: {summary.reverted_keeper_txs}"
    assert summary.noop_keeper_txs == 0, f"E2E-6 keeper transactions without effect: {summary.noop_keeper_txs}"
    if expect_some:
        assert audit, "E2E-6 the keeper sent nothing: the scenario did not exercise it"


def assert_not_liquidated(summary: Summary, market: Any, vault: Any) -> None:
    assert summary.liquidations == 0, f"E2E-1 the vault was liquidated {summary.liquidations} time(s)"
    assert not market.canLiquidate(vault), "E2E-1 the vault is liquidatable at the end"


def assert_in_band(summary: Summary, vault: Any) -> None:
    params = vault.params()
    lev = int(vault.accountView().leverage)
    assert int(params.minLeverage) <= lev <= int(params.maxLeverage), (
        f"E2E-2 final leverage {lev / WAD:.4f}x outside [{int(params.minLeverage) / WAD}, {int(params.maxLeverage) / WAD}]"
    )
    lo, hi = summary.band[0], summary.band[2]
    assert lo <= summary.rows[-1].leverage <= hi, f"E2E-2 last row leverage {summary.rows[-1].leverage:.4f}x outside the band"


def funding_owed_between(
    market: Any, vault: Any, oracle: Any, assets: dict[str, dict[str, Any]], b0: int, b1: int
) -> int:
    """WAD funding the vault's positions at block b0 accrue until block b1 (positive: the vault owes it)."""
    owed = 0
    for spec in assets.values():
        asset_id = int(spec["id"])
        size = int(market.position(vault, asset_id, block_id=b0).size)
        if size == 0:
            continue
        key = bytes.fromhex(spec["oracle_key"][2:])
        idx0, idx1 = (
            int(market.currentFundingIndex(asset_id, int(oracle.getPrice(key, block_id=b)), block_id=b)) for b in (b0, b1)
        )
        owed += size * (idx1 - idx0) // WAD
    return owed


def assert_exits_fair(
    summary: Summary, market: Any, vault: Any, oracle: Any, assets: dict[str, dict[str, Any]], scale: int
) -> int:
    """E2E-5: an exit leaves the staying holders' assets per share where they were, 2 token units of slack (VLT-2).

    The runner reads the totals one block before the exit's block; in that second the positions accrue funding,
    which all holders bear before the exit executes, so it is taken out of the "before" value (computed from the
    market's funding index at both blocks). Returns how many exits were checked."""
    exits = [a for a in summary.user_actions if a.ok and a.kind == "withdraw"]
    for a in exits:
        (ta0, s0, b0), (ta1, s1, b1) = a.before, a.after
        funding = -(-funding_owed_between(market, vault, oracle, assets, b0, b1) // scale)  # token units, rounded up
        ta_exec = ta0 - funding
        # (ta1 + 1) / (s1 + v) >= (ta_exec - 2 + 1) / (s0 + v): OpenZeppelin's virtual shares and asset
        assert (ta1 + 1) * (s0 + VIRTUAL_SHARES) >= (ta_exec + 1 - 2) * (s1 + VIRTUAL_SHARES), (
            f"E2E-5 {a}: staying holders lost {(ta_exec + 1) * (s1 + VIRTUAL_SHARES) / (s0 + VIRTUAL_SHARES) - ta1 - 1:.1f} "
            f"token units (funding in the block gap {funding})"
        )
    return len(exits)
