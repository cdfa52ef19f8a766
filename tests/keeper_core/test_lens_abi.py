"""The hand-written ABI of keeper.chain.lens matches the compiled contracts, and the fast VaultView[] decoder
agrees with eth_abi on real lens answers (good vaults, a short-only vault, an address that is not a vault)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chainkit import AnvilNode, Stack, artifact, start_stack
from eth_utils.abi import collapse_if_tuple
from web3 import Web3

from keeper.chain import lens as L
from keeper.executor.revert import error_selector


def _sig(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(collapse_if_tuple(i) for i in entry['inputs'])})"


def _functions(name: str) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in artifact(name)["abi"] if e["type"] == "function"}


def _errors(*names: str) -> set[str]:
    out: set[str] = set()
    for n in names:
        out |= {_sig(e) for e in artifact(n)["abi"] if e["type"] == "error"}
    return out


def test_signatures_match_compiled_abis() -> None:
    lens_fn = _functions("VaultLens")["getVaults"]
    assert _sig(lens_fn) == L.SIGNATURES["getVaults"]
    assert collapse_if_tuple(lens_fn["outputs"][0]) == f"{L.VAULT_VIEW}[]"
    vault = _functions("ScalingVault")
    for name in ("rebalance", "iterate", "ripcord"):
        assert _sig(vault[name]) == L.SIGNATURES[name]
    batcher = _functions("KeeperBatcher")
    assert _sig(batcher["execute"]) == L.SIGNATURES["execute"]
    assert collapse_if_tuple(batcher["execute"]["outputs"][0]) == f"{L.BATCH_RESULT}[]"
    market = _functions("PerpMarket")
    for name in ("assetConfig", "assetState", "riskParams", "paused"):
        assert _sig(market[name]) == L.SIGNATURES[name]
    assert collapse_if_tuple(market["assetConfig"]["outputs"][0]) == L.ASSET_CONFIG
    assert collapse_if_tuple(market["assetState"]["outputs"][0]) == L.ASSET_STATE
    assert collapse_if_tuple(market["riskParams"]["outputs"][0]) == L.RISK_PARAMS
    events = {_sig(e) for e in artifact("KeeperBatcher")["abi"] if e["type"] == "event"}
    assert {"CallSucceeded(address,uint8,bytes)", "CallFailed(address,uint8,bytes)"} <= events


def test_every_keeper_error_exists_in_a_contract() -> None:
    compiled = _errors("ScalingVault", "PerpMarket", "ChainlinkOracleAdapter", "KeeperBatcher")
    missing = [e for e in L.KEEPER_ERRORS if e not in compiled]
    assert missing == []
    vault_rules = {
        e for e in _errors("ScalingVault") if e.split("(")[0] in {
            "RebalanceIntervalNotElapsed", "ChunkCooldownNotElapsed", "RipcordCooldownNotElapsed", "NoPendingRebalance",
            "RipcordNotTriggered", "InsufficientImprovement", "LeverageAboveMax", "LeverageAboveCap",
            "AssetMovesAwayFromTarget", "DirectionMismatch", "NotionalCapExceeded",
        }
    }
    assert vault_rules <= set(L.KEEPER_ERRORS)
    assert L.is_benign(error_selector("ChunkCooldownNotElapsed(uint256,uint256,uint256)"))
    assert not L.is_benign(error_selector("InsufficientImprovement(uint256,uint256,uint256)"))
    assert not L.is_benign(None)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    node = AnvilNode()
    try:
        s = start_stack(node)
        long_vault = s.deploy_vault()
        short_vault = s.deploy_vault({"ETH": -1.0})
        s.deposit(long_vault, s.units(50_000))
        s.deposit(short_vault, s.units(20_000))
        s.rebalance_to_target(long_vault)
        s.rebalance_to_target(short_vault)
        yield s
    finally:
        node.stop()


def test_fast_decoder_matches_eth_abi(stack: Stack) -> None:
    s = stack
    addresses = [v.address for v in s.vaults] + ["0x000000000000000000000000000000000000dEaD", s.token.address]
    raw = s.w3.eth.call({"to": s.lens.address, "data": L.encode_get_vaults(addresses)})
    fast = L.decode_vaults(raw)
    slow = L.decode_vaults_generic(raw)
    assert len(fast) == len(slow) == 4
    for rec, ref in zip(fast, slow):
        assert rec.vault == Web3.to_checksum_address(ref[0]) and rec.ok == ref[1]
        assert (rec.account.prices_ok, rec.account.equity, rec.account.gross_notional, rec.account.maintenance_requirement, rec.account.leverage) == tuple(ref[7])
        assert (rec.margin_ratio, rec.liquidation_distance) == (ref[8], ref[9])
        assert rec.params.as_tuple() == tuple(ref[10])
        st = rec.state
        assert (st.last_rebalance_at, st.last_iterate_at, st.last_ripcord_at, st.pending_mask, st.pending_buy_mask, st.paused, st.last_equity) == tuple(ref[11])
        assert (rec.action, rec.reason, rec.suggested_sizes) == (ref[12], ref[13], tuple(ref[14]))
        assert [
            (p.asset_id, p.weight, p.notional_cap, p.size, p.open_notional, p.price, p.price_status, p.notional, p.exposure, p.pending_exposure)
            for p in rec.positions
        ] == [tuple(x) for x in ref[15]]
    assert fast[1].positions[0].size < 0 and fast[1].positions[0].weight == -(10**18)
    assert not fast[2].ok and not fast[3].ok


def test_decoder_rejects_garbage() -> None:
    with pytest.raises(L.LensDecodeError):
        L.decode_vaults(b"\x00" * 31)
    with pytest.raises(L.LensDecodeError):
        L.decode_vaults((32).to_bytes(32, "big") + (5).to_bytes(32, "big"))
