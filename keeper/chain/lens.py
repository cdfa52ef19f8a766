"""ABI helpers of the keeper core: the VaultLens read (encode + a fast decoder), vault and batcher calldata, the
venue reads the exact rules need, and the custom errors the keeper can meet.

No ABI JSON is needed at run time: the few signatures the keeper uses are written here, and
tests/keeper_core/test_lens_abi.py checks them against the compiled contracts (so a change of an interface
fails a test instead of silently mis-decoding).

`decode_vaults` reads the ABI encoding of `VaultView[]` word by word (every field is a 32-byte word; the structs
are static except `suggestedSizes` and `positions`), about 20x faster than the generic decoder for the same
result (checked against eth_abi in the tests).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.snapshot import Account, MarketAsset, Position, VaultParams, VaultRecord, VaultState


class LensDecodeError(ValueError):
    """The lens answer does not have the expected layout (wrong address, or an interface changed)."""


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


ADJUSTMENT = "(uint256,int256,uint256)"
ACCOUNT_VIEW = "(bool,int256,uint256,uint256,uint256)"
PARAMS = "(uint64,uint64,uint64,uint64,uint64,uint64,uint64,uint32,uint32,uint96,uint64,uint64,uint32,uint96,uint96,uint64)"
VAULT_STATE = "(uint40,uint40,uint40,uint8,uint8,bool,uint112)"
POSITION_VIEW = "(uint256,int256,uint256,int256,int256,uint256,uint8,uint256,int256,int256)"
VAULT_VIEW = (
    f"(address,bool,address,address,uint256,uint256,uint256,{ACCOUNT_VIEW},uint256,uint256,{PARAMS},{VAULT_STATE},"
    f"uint8,uint8,int256[],{POSITION_VIEW}[])"
)
BATCH_CALL = f"(address,uint8,{ADJUSTMENT}[])"
BATCH_RESULT = "(bool,bytes)"
ASSET_CONFIG = "(bytes32,uint128,uint128,uint64,uint64,uint64,uint64)"
ASSET_STATE = "(int128,uint64,uint128,uint128,int128,int128)"
RISK_PARAMS = "(uint64,uint64,uint64,uint128,uint128)"

SIGNATURES = {
    "getVaults": "getVaults(address[])",
    "rebalance": f"rebalance({ADJUSTMENT}[])",
    "iterate": "iterate()",
    "ripcord": "ripcord()",
    "execute": f"execute({BATCH_CALL}[],bool)",
    "assetConfig": "assetConfig(uint256)",
    "assetState": "assetState(uint256)",
    "riskParams": "riskParams()",
    "paused": "paused()",
    "decimals": "decimals()",
    "collateralToken": "collateralToken()",
}
GET_VAULTS = selector(SIGNATURES["getVaults"])
REBALANCE = selector(SIGNATURES["rebalance"])
ITERATE = selector(SIGNATURES["iterate"])
RIPCORD = selector(SIGNATURES["ripcord"])
EXECUTE = selector(SIGNATURES["execute"])

# Events the runtime decodes from batch receipts: topic0 -> name.
BATCH_EVENTS = {
    "0x" + keccak(text="CallSucceeded(address,uint8,bytes)").hex(): "CallSucceeded",
    "0x" + keccak(text="CallFailed(address,uint8,bytes)").hex(): "CallFailed",
}

# Every custom error the keeper's calls can revert with (vault rules, venue, oracle, batcher, roles).
KEEPER_ERRORS = (
    # vault keeper rules
    "NoAdjustments()",
    "ZeroSizeDelta(uint256)",
    "DuplicateAsset(uint256)",
    "AssetNotInVault(uint256)",
    "RebalanceIntervalNotElapsed(uint256,uint256,uint256)",
    "ChunkCooldownNotElapsed(uint256,uint256,uint256)",
    "RipcordCooldownNotElapsed(uint256,uint256,uint256)",
    "NoPendingRebalance()",
    "DirectionMismatch(uint256,int256,int256)",
    "NotionalCapExceeded(uint256,uint256,uint256)",
    "AssetMovesAwayFromTarget(uint256,uint256,uint256)",
    "AcceptablePriceOutOfBounds(uint256,uint256,uint256)",
    "RiskIncreasingWhilePaused(uint256)",
    "LeverageAboveMax(uint256,uint256)",
    "LeverageAboveCap(uint256,uint256)",
    "InsufficientImprovement(uint256,uint256,uint256)",
    "RipcordNotTriggered(uint256,uint256,int256,uint256)",
    "PriceUnavailable(uint256,uint8)",
    "VaultInsolvent(int256)",
    "ReentrancyGuardReentrantCall()",
    "AccessControlUnauthorizedAccount(address,bytes32)",
    # venue
    "SlippageExceeded(uint256,uint256,bool)",
    "MarketPaused()",
    "OpenInterestCapExceeded(uint256,uint256,uint256)",
    "InsufficientMargin(int256,uint256)",
    "NonPositiveFillPrice(int256)",
    "DeadlineExpired(uint256,uint256)",
    "SafeCastOverflowedIntDowncast(uint8,int256)",
    # oracle
    "UnknownAsset(bytes32)",
    "FeedCallFailed(bytes32,address)",
    "NonPositivePrice(bytes32,address,int256)",
    "ZeroTimestamp(bytes32,address)",
    "FutureTimestamp(bytes32,address,uint256,uint256)",
    "StalePrice(bytes32,address,uint256,uint256,uint256)",
    "PriceDeviation(bytes32,uint256,uint256,uint256,uint256)",
    "SequencerDown(int256,uint256)",
    "SequencerGracePeriod(uint256,uint256,uint256)",
    # batcher
    "NotOperator(address)",
    "NotOwner(address)",
    "NoCalls()",
    "InvalidAction(uint256)",
    "NoCallSucceeded(bytes)",
)

# "Another keeper acted first": the vault refuses because a trade just happened or the trigger is gone.
BENIGN_ERRORS = (
    "RebalanceIntervalNotElapsed(uint256,uint256,uint256)",
    "ChunkCooldownNotElapsed(uint256,uint256,uint256)",
    "RipcordCooldownNotElapsed(uint256,uint256,uint256)",
    "NoPendingRebalance()",
    "RipcordNotTriggered(uint256,uint256,int256,uint256)",
    # a batch whose calls all succeeded in our own simulation a moment earlier: they lost a race
    "NoCallSucceeded(bytes)",
)


def error_selector_hex(signature: str) -> str:
    return "0x" + selector(signature).hex()


BENIGN_SELECTORS = frozenset(error_selector_hex(s) for s in BENIGN_ERRORS)


def error_abi(signatures: Iterable[str] = KEEPER_ERRORS) -> list[dict[str, Any]]:
    """ABI entries of custom errors (for keeper.executor.ErrorDecoder) from their signatures."""
    out: list[dict[str, Any]] = []
    for sig in signatures:
        name, _, rest = sig.partition("(")
        types = [t for t in rest.rstrip(")").split(",") if t]
        out.append({"type": "error", "name": name, "inputs": [{"name": f"arg{i}", "type": t} for i, t in enumerate(types)]})
    return out


def is_benign(selector_hex: str | None) -> bool:
    return selector_hex is not None and selector_hex.lower() in BENIGN_SELECTORS


# --- calldata ---------------------------------------------------------------------------------------------------


Adjustment = tuple[int, int, int]  # (assetId, sizeDelta, acceptablePrice)


def encode_get_vaults(vaults: Sequence[str]) -> bytes:
    return GET_VAULTS + abi_encode(["address[]"], [[to_checksum_address(v) for v in vaults]])


def encode_rebalance(adjustments: Sequence[Adjustment]) -> bytes:
    return REBALANCE + abi_encode([f"{ADJUSTMENT}[]"], [list(adjustments)])


def encode_iterate() -> bytes:
    return ITERATE


def encode_ripcord() -> bytes:
    return RIPCORD


def encode_execute(calls: Sequence[tuple[str, int, Sequence[Adjustment]]], require_success: bool) -> bytes:
    """KeeperBatcher.execute(calls, requireSuccess); a call is (vault, action code, adjustments)."""
    payload = [(to_checksum_address(v), int(a), list(adj)) for v, a, adj in calls]
    return EXECUTE + abi_encode([f"{BATCH_CALL}[]", "bool"], [payload, require_success])


def decode_execute_results(data: bytes) -> list[tuple[bool, bytes]]:
    (results,) = abi_decode([f"{BATCH_RESULT}[]"], data)
    return [(bool(ok), bytes(ret)) for ok, ret in results]


def encode_uint_call(name: str, value: int) -> bytes:
    return selector(SIGNATURES[name]) + abi_encode(["uint256"], [value])


def encode_plain_call(name: str) -> bytes:
    return selector(SIGNATURES[name])


def decode_market_asset(asset_id: int, config: bytes, state: bytes) -> MarketAsset:
    (cfg,) = abi_decode([ASSET_CONFIG], config)
    (st,) = abi_decode([ASSET_STATE], state)
    return MarketAsset(
        asset_id=asset_id,
        skew_scale=int(cfg[1]),
        max_open_interest=int(cfg[2]),
        initial_margin_ratio=int(cfg[3]),
        maintenance_margin_ratio=int(cfg[4]),
        trading_fee=int(cfg[5]),
        max_funding_rate=int(cfg[6]),
        long_open_interest=int(st[2]),
        short_open_interest=int(st[3]),
    )


def decode_risk_params(data: bytes) -> tuple[int, int, int]:
    """(liquidationFeeRatio, minKeeperFee, maxKeeperFee)."""
    (rp,) = abi_decode([RISK_PARAMS], data)
    return int(rp[0]), int(rp[3]), int(rp[4])


# --- VaultView[] decoder ----------------------------------------------------------------------------------------

_HEAD_WORDS = 41  # static words of one VaultView before its two dynamic arrays
_POSITION_WORDS = 10
_TOP = 2**255
_FULL = 2**256


def _signed(x: int) -> int:
    return x - _FULL if x >= _TOP else x


def _address(x: int) -> str:
    return to_checksum_address(x.to_bytes(20, "big"))


class _Words:
    __slots__ = ("data", "n")

    def __init__(self, data: bytes) -> None:
        if len(data) % 32:
            raise LensDecodeError(f"lens answer: {len(data)} bytes is not a whole number of words")
        self.data = data
        self.n = len(data) // 32

    def at(self, byte_offset: int) -> int:
        if byte_offset < 0 or byte_offset + 32 > len(self.data):
            raise LensDecodeError(f"lens answer: read at byte {byte_offset} beyond {len(self.data)} bytes")
        return int.from_bytes(self.data[byte_offset : byte_offset + 32], "big")

    def many(self, byte_offset: int, count: int) -> list[int]:
        end = byte_offset + 32 * count
        if byte_offset < 0 or end > len(self.data):
            raise LensDecodeError(f"lens answer: {count} words at byte {byte_offset} beyond {len(self.data)} bytes")
        d = self.data
        return [int.from_bytes(d[o : o + 32], "big") for o in range(byte_offset, end, 32)]


def _vault(words: _Words, base: int) -> VaultRecord:
    h = words.many(base, _HEAD_WORDS)
    sizes_at = base + h[39]
    positions_at = base + h[40]
    n_sizes = words.at(sizes_at)
    n_pos = words.at(positions_at)
    if n_sizes > 64 or n_pos > 64:
        raise LensDecodeError(f"lens answer: implausible array lengths {n_sizes}, {n_pos}")
    sizes = tuple(_signed(x) for x in words.many(sizes_at + 32, n_sizes))
    flat = words.many(positions_at + 32, n_pos * _POSITION_WORDS)
    positions = tuple(
        Position(
            asset_id=flat[k],
            weight=_signed(flat[k + 1]),
            notional_cap=flat[k + 2],
            size=_signed(flat[k + 3]),
            open_notional=_signed(flat[k + 4]),
            price=flat[k + 5],
            price_status=flat[k + 6],
            notional=flat[k + 7],
            exposure=_signed(flat[k + 8]),
            pending_exposure=_signed(flat[k + 9]),
        )
        for k in range(0, n_pos * _POSITION_WORDS, _POSITION_WORDS)
    )
    return VaultRecord(
        vault=_address(h[0]),
        ok=bool(h[1]),
        venue=_address(h[2]),
        asset=_address(h[3]),
        total_supply=h[4],
        total_assets=h[5],
        idle=h[6],
        account=Account(bool(h[7]), _signed(h[8]), h[9], h[10], h[11]),
        margin_ratio=h[12],
        liquidation_distance=h[13],
        params=VaultParams(*h[14:30]),
        state=VaultState(h[30], h[31], h[32], h[33], h[34], bool(h[35]), h[36]),
        action=h[37],
        reason=h[38],
        suggested_sizes=sizes,
        positions=positions,
    )


def decode_vaults(data: bytes) -> list[VaultRecord]:
    """Decode the return data of `getVaults` (abi.encode(VaultView[]))."""
    words = _Words(bytes(data))
    if words.n < 2:
        raise LensDecodeError(f"lens answer: {len(data)} bytes is too short for VaultView[]")
    array_at = words.at(0)
    count = words.at(array_at)
    if count > 100_000:
        raise LensDecodeError(f"lens answer: implausible vault count {count}")
    content = array_at + 32
    offsets = words.many(content, count)
    return [_vault(words, content + off) for off in offsets]


def decode_vaults_generic(data: bytes) -> list[tuple[Any, ...]]:
    """The same answer through eth_abi (slow; for cross-checks)."""
    (views,) = abi_decode([f"{VAULT_VIEW}[]"], bytes(data))
    return list(views)
