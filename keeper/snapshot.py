"""What the keeper knows about its vaults at one block: exact integer records plus numpy arrays over vaults.

Two views of the same data, built once per block by the reader (or synthetically for tests and benchmarks):

- `records`: one `VaultRecord` per vault with the lens's values as Python integers (WAD, token units, seconds),
  exactly as on chain. The planner's exact stage (`keeper.vault_rules`) works on these, and only for vaults
  that act.
- arrays (`VaultArrays`): float64 / int64 / bool numpy arrays, shape (n,) per vault or (n, MAX_ASSETS) per vault
  and asset slot (slot i = the vault's i-th asset, `assetIds()` order; unused slots are masked). Leverage,
  weights, fractions are plain floats (1.0 = 1x / 100 %), notionals and equity in collateral units (WAD / 1e18),
  times in seconds. uint256-max sentinels (leverage with no equity, margin ratio with no positions) become +inf.
  The strategies and the planner's vectorised stage read only these.

Nothing here imports web3: a snapshot is plain data, so the same decision code runs live, in dry-run, in the
benchmarks and in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

WAD = 10**18
MAX_ASSETS = 4
UINT_MAX = 2**256 - 1
_INF_FROM = 2**255  # values at or above this are uint256-max style sentinels

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# IScalingVault.Action / Reason, in declaration order.
ACTIONS = ("NONE", "REBALANCE", "ITERATE", "RIPCORD")
REASONS = (
    "NONE",
    "WITHIN_BAND",
    "PRICE_UNAVAILABLE",
    "EMPTY",
    "RIPCORD_LEVERAGE",
    "RIPCORD_MARGIN",
    "RIPCORD_COOLDOWN",
    "PENDING_CHUNK",
    "CHUNK_COOLDOWN",
    "ABOVE_MAX",
    "BELOW_MIN",
    "RECENTER",
    "PAUSED",
)


@dataclass(frozen=True, slots=True)
class VaultParams:
    """IScalingVault.Params (WAD leverage and fractions, seconds, WAD notionals, token units for the reward)."""

    min_leverage: int
    target_leverage: int
    max_leverage: int
    leverage_cap: int
    tolerance: int
    min_improvement: int
    max_slippage: int
    rebalance_interval: int
    chunk_cooldown: int
    max_trade_notional: int
    ripcord_leverage: int
    ripcord_slippage: int
    ripcord_cooldown: int
    ripcord_max_trade_notional: int
    ripcord_reward: int
    ripcord_margin_buffer: int

    def as_tuple(self) -> tuple[int, ...]:
        return (
            self.min_leverage, self.target_leverage, self.max_leverage, self.leverage_cap, self.tolerance,
            self.min_improvement, self.max_slippage, self.rebalance_interval, self.chunk_cooldown,
            self.max_trade_notional, self.ripcord_leverage, self.ripcord_slippage, self.ripcord_cooldown,
            self.ripcord_max_trade_notional, self.ripcord_reward, self.ripcord_margin_buffer,
        )


@dataclass(frozen=True, slots=True)
class VaultState:
    """IScalingVault.VaultState."""

    last_rebalance_at: int
    last_iterate_at: int
    last_ripcord_at: int
    pending_mask: int
    pending_buy_mask: int
    paused: bool
    last_equity: int

    @property
    def last_trade_at(self) -> int:
        return max(self.last_rebalance_at, self.last_iterate_at, self.last_ripcord_at)


@dataclass(frozen=True, slots=True)
class Account:
    """IScalingVault.AccountView: the venue account at current prices (WAD)."""

    prices_ok: bool
    equity: int
    gross_notional: int
    maintenance_requirement: int
    leverage: int  # WAD, rounded up; UINT_MAX when equity <= 0 with positions


@dataclass(frozen=True, slots=True)
class Position:
    """IVaultLens.PositionView: one vault asset."""

    asset_id: int
    weight: int  # WAD, signed
    notional_cap: int  # WAD
    size: int  # WAD, signed
    open_notional: int  # WAD
    price: int  # WAD, 0 when unusable
    price_status: int  # 0 = usable
    notional: int  # WAD
    exposure: int  # WAD signed notional / equity
    pending_exposure: int  # WAD


@dataclass(frozen=True)
class VaultRecord:
    """IVaultLens.VaultView with exact integers."""

    vault: str
    ok: bool
    venue: str
    asset: str
    total_supply: int
    total_assets: int
    idle: int
    account: Account
    margin_ratio: int
    liquidation_distance: int
    params: VaultParams
    state: VaultState
    action: int
    reason: int
    suggested_sizes: tuple[int, ...]
    positions: tuple[Position, ...]

    @property
    def asset_ids(self) -> tuple[int, ...]:
        return tuple(p.asset_id for p in self.positions)

    @property
    def prices_usable(self) -> bool:
        """Every asset of the vault has a usable price (the vault's rules need all of them to trade)."""
        return self.ok and self.account.prices_ok and all(p.price_status == 0 and p.price > 0 for p in self.positions)


@dataclass(frozen=True, slots=True)
class MarketAsset:
    """One venue asset as the fill and margin rules need it (WAD)."""

    asset_id: int
    skew_scale: int
    max_open_interest: int
    initial_margin_ratio: int
    maintenance_margin_ratio: int
    trading_fee: int
    max_funding_rate: int
    long_open_interest: int
    short_open_interest: int

    @property
    def skew(self) -> int:
        return self.long_open_interest - self.short_open_interest


@dataclass(frozen=True)
class MarketInfo:
    """The venue state the exact rules need: assets by id, pause flag, keeper fee terms, collateral scale."""

    assets: dict[int, MarketAsset]
    paused: bool = False
    liquidation_fee_ratio: int = 0
    min_keeper_fee: int = 0  # WAD
    max_keeper_fee: int = 0  # WAD
    token_scale: int = 10**12  # 10 ** (18 - collateral decimals)


@dataclass(frozen=True)
class BlockRef:
    number: int
    hash: str
    timestamp: int


@dataclass(frozen=True)
class VaultArrays:
    """Vectorised view; see the module docstring for units and shapes."""

    ok: BoolArray  # (n,) the lens answered and every price of the vault is usable
    lens_ok: BoolArray  # (n,)
    equity: FloatArray  # (n,) collateral units (may be <= 0)
    gross: FloatArray  # (n,)
    maintenance: FloatArray  # (n,)
    leverage: FloatArray  # (n,) x, +inf when insolvent with positions
    margin_ratio: FloatArray  # (n,) equity / maintenance, +inf without positions
    liquidation_distance: FloatArray  # (n,) fraction, +inf without positions
    total_assets: FloatArray  # (n,) token units
    min_leverage: FloatArray
    target_leverage: FloatArray
    max_leverage: FloatArray
    leverage_cap: FloatArray
    ripcord_leverage: FloatArray
    tolerance: FloatArray
    min_improvement: FloatArray
    max_trade_notional: FloatArray  # collateral units
    ripcord_max_trade_notional: FloatArray
    ripcord_margin_buffer: FloatArray
    rebalance_interval: FloatArray  # seconds
    chunk_cooldown: FloatArray
    ripcord_cooldown: FloatArray
    last_rebalance_at: FloatArray  # seconds
    last_iterate_at: FloatArray
    last_ripcord_at: FloatArray
    last_trade_at: FloatArray
    pending_mask: IntArray  # (n,)
    pending: BoolArray  # (n,) a chunked rebalance is pending
    paused: BoolArray
    lens_action: IntArray  # (n,) shouldRebalance's action, for display and cross-checks
    lens_reason: IntArray
    slot: BoolArray  # (n, A) slot in use
    asset_id: IntArray  # (n, A), -1 for unused slots
    weight: FloatArray  # (n, A) signed
    notional_cap: FloatArray  # (n, A) collateral units
    size: FloatArray  # (n, A) asset units, signed
    price: FloatArray  # (n, A) collateral per asset unit, 0 when unusable
    price_ok: BoolArray  # (n, A)
    exposure: FloatArray  # (n, A) signed notional / equity
    pending_exposure: FloatArray  # (n, A)
    suggested: FloatArray  # (n, A) shouldRebalance's sizes, asset units

    @property
    def n(self) -> int:
        return int(self.equity.shape[0])


@dataclass(frozen=True)
class Snapshot:
    block: BlockRef
    records: tuple[VaultRecord, ...]
    arrays: VaultArrays
    market: MarketInfo | None = None  # filled by the reader when some vault may act (exact fills need skew)
    prices: dict[int, float] = field(default_factory=dict)  # asset id -> usable price at this block

    @property
    def n(self) -> int:
        return len(self.records)

    @property
    def vaults(self) -> tuple[str, ...]:
        return tuple(r.vault for r in self.records)


def _floats(values: Sequence[int], scale: float = 1e18) -> FloatArray:
    """Exact ints -> float64 / scale, with uint256-max style sentinels as +inf."""
    out = np.array([float(v) if v < _INF_FROM else np.inf for v in values], dtype=np.float64)
    return out / scale if scale != 1.0 else out


def _signed_floats(values: Sequence[int], scale: float = 1e18) -> FloatArray:
    return np.array([float(v) for v in values], dtype=np.float64) / scale


def build_arrays(records: Sequence[VaultRecord]) -> VaultArrays:
    """Vectorise the exact records (once per block; O(n * A) Python work, no decisions)."""
    n = len(records)
    a = MAX_ASSETS
    slot = np.zeros((n, a), dtype=np.bool_)
    asset_id = np.full((n, a), -1, dtype=np.int64)
    grid: dict[str, list[float]] = {k: [0.0] * (n * a) for k in ("weight", "cap", "size", "price", "exposure", "pending", "suggested")}
    price_ok = np.zeros((n, a), dtype=np.bool_)
    for i, r in enumerate(records):
        for j, p in enumerate(r.positions[:a]):
            k = i * a + j
            slot[i, j] = True
            asset_id[i, j] = p.asset_id
            grid["weight"][k] = p.weight / 1e18
            grid["cap"][k] = p.notional_cap / 1e18
            grid["size"][k] = p.size / 1e18
            grid["price"][k] = p.price / 1e18
            grid["exposure"][k] = p.exposure / 1e18
            grid["pending"][k] = p.pending_exposure / 1e18
            price_ok[i, j] = p.price_status == 0 and p.price > 0
            if j < len(r.suggested_sizes):
                grid["suggested"][k] = r.suggested_sizes[j] / 1e18

    def g(name: str) -> FloatArray:
        return np.array(grid[name], dtype=np.float64).reshape(n, a)

    acc = [r.account for r in records]
    prm = [r.params for r in records]
    st = [r.state for r in records]
    lens_ok = np.array([r.ok for r in records], dtype=np.bool_)
    ok = lens_ok & np.array([r.account.prices_ok for r in records], dtype=np.bool_) & np.all(price_ok | ~slot, axis=1)
    pending_mask = np.array([s.pending_mask for s in st], dtype=np.int64)
    last = [float(s.last_trade_at) for s in st]
    return VaultArrays(
        ok=ok,
        lens_ok=lens_ok,
        equity=_signed_floats([x.equity for x in acc]),
        gross=_floats([x.gross_notional for x in acc]),
        maintenance=_floats([x.maintenance_requirement for x in acc]),
        leverage=_floats([x.leverage for x in acc]),
        margin_ratio=_floats([r.margin_ratio for r in records]),
        liquidation_distance=_floats([r.liquidation_distance for r in records]),
        total_assets=_floats([r.total_assets for r in records], 1.0),
        min_leverage=_floats([p.min_leverage for p in prm]),
        target_leverage=_floats([p.target_leverage for p in prm]),
        max_leverage=_floats([p.max_leverage for p in prm]),
        leverage_cap=_floats([p.leverage_cap for p in prm]),
        ripcord_leverage=_floats([p.ripcord_leverage for p in prm]),
        tolerance=_floats([p.tolerance for p in prm]),
        min_improvement=_floats([p.min_improvement for p in prm]),
        max_trade_notional=_floats([p.max_trade_notional for p in prm]),
        ripcord_max_trade_notional=_floats([p.ripcord_max_trade_notional for p in prm]),
        ripcord_margin_buffer=_floats([p.ripcord_margin_buffer for p in prm]),
        rebalance_interval=_floats([p.rebalance_interval for p in prm], 1.0),
        chunk_cooldown=_floats([p.chunk_cooldown for p in prm], 1.0),
        ripcord_cooldown=_floats([p.ripcord_cooldown for p in prm], 1.0),
        last_rebalance_at=_floats([s.last_rebalance_at for s in st], 1.0),
        last_iterate_at=_floats([s.last_iterate_at for s in st], 1.0),
        last_ripcord_at=_floats([s.last_ripcord_at for s in st], 1.0),
        last_trade_at=np.array(last, dtype=np.float64),
        pending_mask=pending_mask,
        pending=pending_mask != 0,
        paused=np.array([s.paused for s in st], dtype=np.bool_),
        lens_action=np.array([r.action for r in records], dtype=np.int64),
        lens_reason=np.array([r.reason for r in records], dtype=np.int64),
        slot=slot,
        asset_id=asset_id,
        weight=g("weight"),
        notional_cap=g("cap"),
        size=g("size"),
        price=g("price"),
        price_ok=price_ok,
        exposure=g("exposure"),
        pending_exposure=g("pending"),
        suggested=g("suggested"),
    )


def asset_prices(records: Sequence[VaultRecord]) -> dict[int, float]:
    """Usable price per asset id seen in the records (the same venue price for every vault holding it)."""
    out: dict[int, float] = {}
    for r in records:
        if not r.ok:
            continue
        for p in r.positions:
            if p.price_status == 0 and p.price > 0:
                out.setdefault(p.asset_id, p.price / 1e18)
    return out


def build_snapshot(block: BlockRef, records: Sequence[VaultRecord], market: MarketInfo | None = None) -> Snapshot:
    recs = tuple(records)
    return Snapshot(block=block, records=recs, arrays=build_arrays(recs), market=market, prices=asset_prices(recs))


# --- price history -------------------------------------------------------------------------------------------------


class PriceHistory:
    """Per asset id, the last `capacity` (block, timestamp, price) observations, appended once per processed block."""

    def __init__(self, capacity: int = 4096) -> None:
        if capacity < 2:
            raise ValueError(f"price history capacity: must be >= 2, got {capacity}")
        self.capacity = capacity
        self._blocks: dict[int, np.ndarray[Any, np.dtype[np.int64]]] = {}
        self._times: dict[int, FloatArray] = {}
        self._prices: dict[int, FloatArray] = {}
        self._count: dict[int, int] = {}
        self.last_block = -1

    def append(self, block: int, timestamp: float, prices: dict[int, float]) -> bool:
        """Record the block's prices; False (nothing changed) for a block at or below the last one recorded."""
        if block <= self.last_block:
            return False
        for asset_id, price in prices.items():
            if asset_id not in self._prices:
                self._blocks[asset_id] = np.zeros(self.capacity, dtype=np.int64)
                self._times[asset_id] = np.zeros(self.capacity)
                self._prices[asset_id] = np.zeros(self.capacity)
                self._count[asset_id] = 0
            k = self._count[asset_id] % self.capacity
            self._blocks[asset_id][k] = block
            self._times[asset_id][k] = timestamp
            self._prices[asset_id][k] = price
            self._count[asset_id] += 1
        self.last_block = block
        return True

    def assets(self) -> list[int]:
        return sorted(self._prices)

    def series(self, asset_id: int) -> tuple[np.ndarray[Any, np.dtype[np.int64]], FloatArray, FloatArray]:
        """(blocks, timestamps, prices) oldest first."""
        if asset_id not in self._prices:
            empty = np.zeros(0)
            return np.zeros(0, dtype=np.int64), empty, empty
        count = self._count[asset_id]
        n = min(count, self.capacity)
        start = count % self.capacity if count > self.capacity else 0
        order = (np.arange(n) + start) % self.capacity
        return self._blocks[asset_id][order], self._times[asset_id][order], self._prices[asset_id][order]

    def latest(self, asset_id: int) -> tuple[int, float, float] | None:
        count = self._count.get(asset_id, 0)
        if count == 0:
            return None
        k = (count - 1) % self.capacity
        return int(self._blocks[asset_id][k]), float(self._times[asset_id][k]), float(self._prices[asset_id][k])


# --- synthetic snapshots (benchmarks and tests) -----------------------------------------------------------------


def synthetic_records(n: int, seed: int = 0, now: int = 1_800_000_000, assets: Sequence[tuple[int, int]] = ((0, 2000), (1, 60_000))) -> list[VaultRecord]:
    """`n` plausible vaults on the same venue: 1-2 assets with signed weights, equity 1k-1M, leverage spread
    around a 2x policy (some far outside the band, some near liquidation, some pending, some fresh), exact
    integers consistent with each other as the lens reports them (maintenance 2 %, keeper fee ignored)."""
    rng = np.random.default_rng(seed)
    out: list[VaultRecord] = []
    for i in range(n):
        two = bool(rng.random() < 0.6)
        ids = [assets[0], assets[1]] if two else [assets[int(rng.integers(0, len(assets)))]]
        if two:
            w0 = int(rng.choice([6, 5, 7])) * WAD // 10
            signs = (1, 1) if rng.random() < 0.7 else (-1, 1)
            weights = [signs[0] * w0, signs[1] * (WAD - w0)]
        else:
            weights = [WAD if rng.random() < 0.8 else -WAD]
        target = int(rng.choice([15, 20, 30])) * WAD // 10
        params = VaultParams(
            min_leverage=target - 3 * WAD // 10, target_leverage=target, max_leverage=target + 3 * WAD // 10,
            leverage_cap=target + WAD, tolerance=5 * WAD // 100, min_improvement=5 * WAD // 100,
            max_slippage=WAD // 100, rebalance_interval=86_400, chunk_cooldown=300,
            max_trade_notional=500_000 * WAD, ripcord_leverage=target + 7 * WAD // 10, ripcord_slippage=5 * WAD // 100,
            ripcord_cooldown=60, ripcord_max_trade_notional=1_000_000 * WAD, ripcord_reward=10 * 10**6,
            ripcord_margin_buffer=WAD // 2,
        )
        equity = int(rng.uniform(1_000, 1_000_000)) * WAD
        kind = rng.random()
        if kind < 0.005:
            lev_f = 0.0  # fresh deposit
        elif kind < 0.95:
            lev_f = target / WAD + float(rng.normal(0.0, 0.06))  # in the band, near the target
        elif kind < 0.99:
            lev_f = target / WAD + float(rng.choice([-1.0, 1.0])) * float(rng.uniform(0.35, 0.6))  # out of band
        elif kind < 0.997:
            lev_f = target / WAD + float(rng.uniform(0.7, 2.5))  # ripcord territory
        else:
            lev_f = float(rng.uniform(22.0, 40.0))  # a price gap left it close to liquidation
        lev_f = max(lev_f, 0.0)
        positions = []
        gross = 0
        for (asset_id, px), w in zip(ids, weights):
            price = int(px * WAD * float(rng.uniform(0.97, 1.03)))
            notional = int(abs(w) / WAD * lev_f * equity / WAD) * WAD
            size = (notional * WAD // price) * (1 if w > 0 else -1)
            n_up = -((-abs(size) * price) // WAD)
            gross += n_up
            expo = (abs(size) * price // WAD) * WAD // equity * (1 if size >= 0 else -1)
            positions.append(
                Position(asset_id, w, 50_000_000 * WAD, size, size * price // WAD, price, 0, n_up, expo, 0)
            )
        maint = gross * 2 // 100 + (2 * WAD if gross else 0)
        pending = int(rng.random() < 0.02) * ((1 << len(positions)) - 1)
        if pending:
            positions = [replace(p, pending_exposure=p.weight * target // WAD) for p in positions]
        last = now - int(rng.choice([30, 400, 4_000, 90_000]))
        state = VaultState(last, 0, 0, pending, pending if rng.random() < 0.5 else 0, False, equity // 10**12)
        lev = -((-gross * WAD) // equity) if gross else 0
        margin_ratio = equity * WAD // maint if maint else UINT_MAX
        distance = (equity - maint) * WAD // gross if gross and equity > maint else (UINT_MAX if not gross else 0)
        out.append(
            VaultRecord(
                vault=f"0x{i + 1:040x}", ok=True, venue="0x" + "ee" * 20, asset="0x" + "aa" * 20,
                total_supply=equity // 10**12 * 10**6, total_assets=equity // 10**12, idle=0,
                account=Account(True, equity, gross, maint, lev), margin_ratio=margin_ratio,
                liquidation_distance=distance, params=params, state=state, action=0, reason=0,
                suggested_sizes=tuple(0 for _ in positions), positions=tuple(positions),
            )
        )
    return out


def synthetic_market(assets: Sequence[tuple[int, int]] = ((0, 2000), (1, 60_000)), token_scale: int = 10**12) -> MarketInfo:
    """A deep venue for synthetic snapshots: skew scale 1e9 units, open interest cap 1e8, fee 5 bp, IMR 4 %."""
    return MarketInfo(
        assets={
            a: MarketAsset(a, 10**9 * WAD, 10**8 * WAD, 4 * WAD // 100, 2 * WAD // 100, 5 * WAD // 10_000, 0, 0, 0)
            for a, _ in assets
        },
        liquidation_fee_ratio=2 * WAD // 1000, min_keeper_fee=2 * WAD, max_keeper_fee=1000 * WAD, token_scale=token_scale,
    )


def synthetic_snapshot(n: int, seed: int = 0, now: int = 1_800_000_000, block: int = 1) -> Snapshot:
    return build_snapshot(BlockRef(block, "0x" + "00" * 32, now), synthetic_records(n, seed, now))
