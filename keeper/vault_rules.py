"""Exact Python integer mirror of the vault's keeper rules (contracts/vault/libraries/VaultMath.sol and the
rebalance / iterate / ripcord paths of ScalingVaultCore), with the venue checks a keeper trade meets.

`simulate_rebalance`, `simulate_iterate` and `simulate_ripcord` take the vault as the lens reports it (a
`VaultRecord`), the venue state (`MarketInfo`: skew, fee, open interest, pause, keeper fee terms, collateral
scale) and the timestamp of the block the call would run in, and return an `Outcome`: accepted, or the custom
error the contract reverts with (name and arguments, in the contract's order of checks), plus the vault's own
post-trade estimates (leverage after as in the `Rebalanced` / `Ripcord` event, gross notional, traded notional,
pending mask). tests/keeper_core/test_vault_rules_diff.py compares this with the deployed contract over fuzzed
states and adjustments.

Mirrored exactly (integers, same rounding): leverage (rounded up), per-leg checks (direction vs weight, pause,
notional cap of risk-increasing legs, "no further from weight * target * equity"), interval / chunk cooldown /
ripcord cooldown, chunking by maxTradeNotional (pro rata, toward zero) and the stored plan, acceptable prices,
the venue's fill price (skew impact), fee (rounded up to token units), slippage, pause and open-interest checks,
the conservative post-trade equity and the outcome check (cap, max when gross grew, improvement).

Bounded, not exact: the venue's initial-margin check after a risk-increasing leg depends on the venue's own
rounding of realized PnL and funding; it is evaluated on the vault's conservative equity estimate (which never
exceeds the venue's) and reported with `Outcome.exact = False` when the two could disagree. Overflow reverts
(Panic 0x11) of absurd inputs are not modelled.

Units: WAD (1e18) for sizes, prices, notionals, leverage and fractions; seconds for times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from keeper.market_math import MathError, fill_price, keeper_fee, trading_fee
from keeper.snapshot import MarketInfo, VaultParams, VaultRecord, VaultState

WAD = 10**18
UINT_MAX = 2**256 - 1

# Action codes (IScalingVault.Action)
NONE, REBALANCE, ITERATE, RIPCORD = 0, 1, 2, 3


# --- VaultMath ----------------------------------------------------------------------------------------------------


def mul_div(a: int, b: int, d: int, up: bool = False) -> int:
    """OpenZeppelin Math.mulDiv for a, b >= 0, d > 0 (Floor or Ceil)."""
    p = a * b
    return -((-p) // d) if up else p // d


def abs_diff(a: int, b: int) -> int:
    return a - b if a >= b else b - a


def notional_up(size: int, price: int) -> int:
    """|size| * price, rounded up."""
    return mul_div(abs(size), price, WAD, True)


def notional_signed(size: int, price: int) -> int:
    """size * price (signed), rounded toward zero."""
    m = abs(size) * price // WAD
    return m if size >= 0 else -m


def mul_div_down_signed(a: int, b: int, d: int) -> int:
    """a * b / d for signed a, b and d > 0, rounded toward -infinity."""
    ua, ub = abs(a), abs(b)
    if (a < 0) != (b < 0) and a != 0 and b != 0:
        return -mul_div(ua, ub, d, True)
    return ua * ub // d


def mul_div_to_zero(a: int, b: int, d: int) -> int:
    """a * b / d for signed a and unsigned b, d, rounded toward zero."""
    m = abs(a) * b // d
    return m if a >= 0 else -m


def leverage_up(gross: int, equity: int) -> int:
    """gross / equity rounded up; UINT_MAX when equity <= 0 with exposure, 0 without."""
    if gross == 0:
        return 0
    if equity <= 0:
        return UINT_MAX
    return mul_div(gross, WAD, equity, True)


def is_reduce_only(size: int, delta: int) -> bool:
    return size != 0 and (size > 0) != (delta > 0) and abs(delta) <= abs(size)


def to_token_down(wad_amount: int, scale: int) -> int:
    return 0 if wad_amount <= 0 else wad_amount // scale


def ripcord_fraction(gross: int, equity: int, leverage: int, max_leverage: int, leverage_cap: int, max_cut: int) -> int:
    if gross == 0:
        return 0
    keep = mul_div(max_leverage, equity, WAD) if equity > 0 else 0
    cut = gross - keep if gross > keep else gross
    if leverage <= leverage_cap and cut > max_cut:
        cut = max_cut
    f = mul_div(cut, WAD, gross, True)
    return WAD if f > WAD else f


def delta_to_exposure(exposure: int, equity: int, price: int, size: int) -> int:
    if equity <= 0 or price == 0:
        return 0
    return mul_div_to_zero(exposure, equity, price) - size


def policy_exposure(weight: int, leverage: int) -> int:
    """weight * leverage / WAD with Solidity's signed division (toward zero)."""
    p = weight * leverage
    q = abs(p) // WAD
    return q if p >= 0 else -q


def acceptable_bound(price: int, delta: int, slippage: int) -> int:
    """oracle * (1 +- slippage): max for buys (floor), min for sells (ceil)."""
    if delta > 0:
        return mul_div(price, WAD + slippage, WAD)
    return mul_div(price, WAD - slippage, WAD, True)


def trade_rounding_wad(token_scale: int) -> int:
    """PerpMarketVenue._tradeRoundingWad."""
    return 2 * token_scale + 4


# --- results ------------------------------------------------------------------------------------------------------


class RuleError(Exception):
    """A predicted revert: the contract's custom error name and arguments (in declaration order)."""

    def __init__(self, name: str, *args: int | bool) -> None:
        super().__init__(f"{name}({', '.join(str(a) for a in args)})")
        self.name = name
        self.args_ = tuple(args)


@dataclass(frozen=True, slots=True)
class Leg:
    index: int  # vault asset index
    asset_id: int
    price: int
    size: int
    delta: int  # executed delta (after chunk scaling)
    limit: int = 0
    fill: int = 0
    fee_wad: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    error: str | None = None
    args: tuple[int | bool, ...] = ()
    exact: bool = True  # False: the venue's margin check was too close to call on the vault's estimate
    leverage_before: int = 0
    leverage_after: int = 0  # the vault's conservative estimate (the event's value)
    equity_after: int = 0  # conservative
    gross_after: int = 0
    traded: int = 0  # WAD notional
    chunked: bool = False
    pending_mask: int = 0
    legs: tuple[Leg, ...] = field(default_factory=tuple)
    cut: int = 0  # ripcord: gross notional removed

    @property
    def describe(self) -> str:
        if self.ok:
            return f"ok lev {self.leverage_before / WAD:.4f} -> {self.leverage_after / WAD:.4f}"
        return f"{self.error}({', '.join(str(a) for a in self.args)})"


def _fail(e: RuleError, exact: bool = True) -> Outcome:
    return Outcome(ok=False, error=e.name, args=e.args_, exact=exact)


# --- context -----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Ctx:
    p: VaultParams
    st: VaultState
    equity0: int
    gross0: int
    maint0: int
    lev0: int
    paused: bool
    equity1: int = 0
    gross1: int = 0
    traded: int = 0
    chunked: bool = False
    exact: bool = True
    sizes: dict[int, int] = field(default_factory=dict)  # index -> size during execution (venue margin check)


def _strict_account(r: VaultRecord) -> None:
    """_strictAccount: revert PriceUnavailable with the first unusable price when the account cannot be marked."""
    if r.account.prices_ok:
        return
    for p in r.positions:
        if p.price_status != 0:
            raise RuleError("PriceUnavailable", p.asset_id, p.price_status)
    raise RuleError("PriceUnavailable", UINT_MAX, 0)


def _price(r: VaultRecord, index: int) -> int:
    """_price: the oracle's getPrice, which reverts with the oracle's own error when the price is unusable."""
    p = r.positions[index]
    if p.price_status != 0 or p.price == 0:
        raise RuleError("OraclePriceUnusable", p.asset_id, p.price_status)
    return p.price


def _load(r: VaultRecord) -> _Ctx:
    _strict_account(r)
    a = r.account
    return _Ctx(
        p=r.params, st=r.state, equity0=a.equity, gross0=a.gross_notional, maint0=a.maintenance_requirement,
        lev0=leverage_up(a.gross_notional, a.equity), paused=r.state.paused,
        sizes={i: p.size for i, p in enumerate(r.positions)},
    )


def _index_of(r: VaultRecord, asset_id: int) -> int:
    for i, p in enumerate(r.positions):
        if p.asset_id == asset_id:
            return i
    raise RuleError("AssetNotInVault", asset_id)


def _check_leg(c: _Ctx, r: VaultRecord, index: int, size: int, delta: int, price: int) -> None:
    pos = r.positions[index]
    weight = pos.weight
    new_size = size + delta
    reduce = is_reduce_only(size, delta)
    bad = new_size < 0 if weight > 0 else (new_size > 0 if weight < 0 else not reduce)
    if bad:
        raise RuleError("DirectionMismatch", pos.asset_id, new_size, weight)
    if not reduce:
        if c.paused:
            raise RuleError("RiskIncreasingWhilePaused", pos.asset_id)
        new_notional = notional_up(new_size, price)
        if new_notional > pos.notional_cap:
            raise RuleError("NotionalCapExceeded", pos.asset_id, new_notional, pos.notional_cap)
    target_notional = 0
    if c.equity0 > 0:
        target_notional = mul_div_to_zero(policy_exposure(weight, c.p.target_leverage), c.equity0, WAD)
    before = abs(notional_signed(size, price) - target_notional)
    after = abs(notional_signed(new_size, price) - target_notional)
    if after > before:
        raise RuleError("AssetMovesAwayFromTarget", pos.asset_id, before, after)


def _venue_trade(c: _Ctx, r: VaultRecord, m: MarketInfo, index: int, size: int, delta: int, acceptable: int) -> tuple[int, int]:
    """PerpMarket.modifyPosition's checks for the vault's leg; returns (fill, fee in WAD = token fee * scale)."""
    pos = r.positions[index]
    asset = m.assets.get(pos.asset_id)
    if asset is None:
        raise RuleError("UnknownMarketAsset", pos.asset_id)
    price = pos.price
    reduce = is_reduce_only(size, delta)
    if m.paused and not reduce:
        raise RuleError("MarketPaused")
    try:
        fill = fill_price(price, asset.skew, delta, asset.skew_scale)
    except MathError:
        raise RuleError("NonPositiveFillPrice", 0) from None
    if (fill > acceptable) if delta > 0 else (fill < acceptable):
        raise RuleError("SlippageExceeded", fill, acceptable, delta > 0)
    fee_token = -((-trading_fee(delta, fill, asset.trading_fee)) // m.token_scale)
    fee_wad = fee_token * m.token_scale
    if not reduce:
        new_size = size + delta
        long_oi = asset.long_open_interest - max(size, 0) + max(new_size, 0)
        short_oi = asset.short_open_interest - max(-size, 0) + max(-new_size, 0)
        side = long_oi if delta > 0 else short_oi
        if side > asset.max_open_interest:
            raise RuleError("OpenInterestCapExceeded", pos.asset_id, side, asset.max_open_interest)
    return fill, fee_wad


def _venue_margin(c: _Ctx, r: VaultRecord, m: MarketInfo, equity_est: int, legs_done: int) -> None:
    """The venue's initial-margin check after a risk-increasing leg, on the vault's conservative equity."""
    gross = 0
    initial = 0
    for i, pos in enumerate(r.positions):
        size = c.sizes[i]
        if size == 0:
            continue
        asset = m.assets.get(pos.asset_id)
        if asset is None:
            raise RuleError("UnknownMarketAsset", pos.asset_id)
        n = notional_up(size, pos.price)
        gross += n
        initial += mul_div(n, asset.initial_margin_ratio, WAD, True)
    initial += keeper_fee(gross, m.liquidation_fee_ratio, m.min_keeper_fee, m.max_keeper_fee)
    slack = legs_done * (trade_rounding_wad(m.token_scale) + 1)
    if equity_est + slack < initial:
        raise RuleError("InsufficientMargin", equity_est, initial)
    if equity_est < initial:
        c.exact = False  # the venue's own equity may or may not clear it


def _execute(c: _Ctx, r: VaultRecord, m: MarketInfo, legs: list[Leg], slippage: int) -> list[Leg]:
    c.equity1 = c.equity0
    c.gross1 = c.gross0
    rounding = trade_rounding_wad(m.token_scale)
    done: list[Leg] = []
    for leg in legs:
        if leg.delta == 0:
            continue
        if leg.limit == 0:
            acceptable = acceptable_bound(leg.price, leg.delta, slippage)
        else:
            bound = acceptable_bound(leg.price, leg.delta, slippage)
            if (leg.limit > bound) if leg.delta > 0 else (leg.limit < bound):
                raise RuleError("AcceptablePriceOutOfBounds", leg.asset_id, leg.limit, bound)
            acceptable = leg.limit
        fill, fee_wad = _venue_trade(c, r, m, leg.index, leg.size, leg.delta, acceptable)
        c.equity1 += mul_div_down_signed(leg.delta, leg.price - fill, WAD) - fee_wad - rounding
        c.gross1 = c.gross1 + notional_up(leg.size + leg.delta, leg.price) - notional_up(leg.size, leg.price)
        c.traded += notional_up(leg.delta, leg.price)
        c.sizes[leg.index] = leg.size + leg.delta
        if not is_reduce_only(leg.size, leg.delta):
            _venue_margin(c, r, m, c.equity1, len(done) + 1)
        done.append(Leg(leg.index, leg.asset_id, leg.price, leg.size, leg.delta, leg.limit, fill, fee_wad))
    return done


def _check_outcome(c: _Ctx) -> int:
    lev1 = leverage_up(c.gross1, c.equity1)
    if lev1 > c.p.leverage_cap:
        raise RuleError("LeverageAboveCap", lev1, c.p.leverage_cap)
    if c.gross1 > c.gross0 and lev1 > c.p.max_leverage:
        raise RuleError("LeverageAboveMax", lev1, c.p.max_leverage)
    d0 = abs_diff(c.lev0, c.p.target_leverage)
    d1 = abs_diff(lev1, c.p.target_leverage)
    if d1 > c.p.tolerance and (d1 >= d0 or (not c.chunked and d0 - d1 < c.p.min_improvement)):
        raise RuleError("InsufficientImprovement", c.lev0, lev1, c.p.target_leverage)
    return lev1


def _store_plan(c: _Ctx, r: VaultRecord, legs: list[Leg]) -> int:
    mask = 0
    equity = c.equity0
    for leg in legs:
        current = mul_div_to_zero(notional_signed(leg.size, leg.price), WAD, equity)
        wanted = mul_div_to_zero(notional_signed(leg.size + leg.delta, leg.price), WAD, equity)
        policy = policy_exposure(r.positions[leg.index].weight, c.p.target_leverage)
        if leg.delta > 0:
            if wanted > policy:
                wanted = policy if policy > current else current
        elif wanted < policy:
            wanted = policy if policy < current else current
        mask |= 1 << leg.index
    return mask


# --- the three keeper calls ---------------------------------------------------------------------------------------


def simulate_rebalance(
    r: VaultRecord, adjustments: Sequence[tuple[int, int, int]], market: MarketInfo, now: int
) -> Outcome:
    """IScalingVault.rebalance(adjustments) by a KEEPER at block timestamp `now`."""
    c: _Ctx | None = None
    try:
        c = _load(r)
        last = r.state.last_trade_at
        if c.p.min_leverage <= c.lev0 <= c.p.max_leverage:
            if now < last + c.p.rebalance_interval:
                raise RuleError("RebalanceIntervalNotElapsed", last, c.p.rebalance_interval, now)
        elif now < last + c.p.chunk_cooldown:
            raise RuleError("ChunkCooldownNotElapsed", last, c.p.chunk_cooldown, now)
        if not adjustments:
            raise RuleError("NoAdjustments")
        legs: list[Leg] = []
        seen = 0
        notional = 0
        all_reduce = True
        for asset_id, delta, limit in adjustments:
            index = _index_of(r, asset_id)
            if seen & (1 << index):
                raise RuleError("DuplicateAsset", asset_id)
            seen |= 1 << index
            if delta == 0:
                raise RuleError("ZeroSizeDelta", asset_id)
            price = _price(r, index)
            size = r.positions[index].size
            _check_leg(c, r, index, size, delta, price)
            notional += notional_up(delta, price)
            if not is_reduce_only(size, delta):
                all_reduce = False
            legs.append(Leg(index, asset_id, price, size, delta, limit))
        pending_mask = r.state.pending_mask
        if notional > c.p.max_trade_notional and not (all_reduce and c.lev0 > c.p.leverage_cap):
            if c.equity0 <= 0:
                raise RuleError("VaultInsolvent", c.equity0)
            pending_mask = _store_plan(c, r, legs)
            legs = [
                Leg(g.index, g.asset_id, g.price, g.size, mul_div_to_zero(g.delta, c.p.max_trade_notional, notional), g.limit)
                for g in legs
            ]
            c.chunked = True
        else:
            pending_mask = 0
        done = _execute(c, r, market, legs, c.p.max_slippage)
        lev1 = _check_outcome(c)
    except RuleError as e:
        return _fail(e, c.exact if c is not None else True)
    return Outcome(
        ok=True, exact=c.exact, leverage_before=c.lev0, leverage_after=lev1, equity_after=c.equity1,
        gross_after=c.gross1, traded=c.traded, chunked=c.chunked, pending_mask=pending_mask, legs=tuple(done),
    )


def iterate_legs(r: VaultRecord, equity: int, tolerance: int, paused: bool) -> tuple[list[Leg], int, int]:
    """_iterateLegs: (legs toward the stored exposures, their notional, live mask)."""
    legs: list[Leg] = []
    notional = 0
    live = 0
    if equity <= 0:
        return legs, 0, 0
    dust = mul_div(tolerance, equity, WAD)
    st = r.state
    for i, pos in enumerate(r.positions):
        if not st.pending_mask & (1 << i):
            continue
        price = _price(r, i)
        delta = delta_to_exposure(pos.pending_exposure, equity, price, pos.size)
        if delta == 0 or (delta > 0) != bool(st.pending_buy_mask & (1 << i)):
            continue
        leg_notional = notional_up(delta, price)
        if leg_notional <= dust:
            continue
        if paused and not is_reduce_only(pos.size, delta):
            continue
        legs.append(Leg(i, pos.asset_id, price, pos.size, delta))
        notional += leg_notional
        live |= 1 << i
    return legs, notional, live


def simulate_iterate(r: VaultRecord, market: MarketInfo, now: int) -> Outcome:
    """IScalingVault.iterate() by a KEEPER at block timestamp `now`. A call that ends the plan without trading
    succeeds with traded = 0 and pending_mask = 0."""
    c: _Ctx | None = None
    try:
        if r.state.pending_mask == 0:
            raise RuleError("NoPendingRebalance")
        c = _load(r)
        last = r.state.last_trade_at
        if now < last + c.p.chunk_cooldown:
            raise RuleError("ChunkCooldownNotElapsed", last, c.p.chunk_cooldown, now)
        legs, notional, live = iterate_legs(r, c.equity0, c.p.tolerance, c.paused)
        if live == 0:
            return Outcome(ok=True, leverage_before=c.lev0, leverage_after=c.lev0, equity_after=c.equity0, gross_after=c.gross0)
        for g in legs:
            _check_leg(c, r, g.index, g.size, g.delta, g.price)
        if notional > c.p.max_trade_notional:
            legs = [
                Leg(g.index, g.asset_id, g.price, g.size, mul_div_to_zero(g.delta, c.p.max_trade_notional, notional))
                for g in legs
            ]
            c.chunked = True
            pending_mask = live
        else:
            pending_mask = 0
        done = _execute(c, r, market, legs, c.p.max_slippage)
        lev1 = _check_outcome(c)
    except RuleError as e:
        return _fail(e, c.exact if c is not None else True)
    return Outcome(
        ok=True, exact=c.exact, leverage_before=c.lev0, leverage_after=lev1, equity_after=c.equity1,
        gross_after=c.gross1, traded=c.traded, chunked=c.chunked, pending_mask=pending_mask, legs=tuple(done),
    )


def ripcord_threshold(r: VaultRecord) -> int:
    return mul_div(r.account.maintenance_requirement, WAD + r.params.ripcord_margin_buffer, WAD, True)


def ripcord_triggered(r: VaultRecord) -> bool:
    a = r.account
    lev0 = leverage_up(a.gross_notional, a.equity)
    by_margin = a.gross_notional != 0 and a.equity < ripcord_threshold(r)
    return lev0 >= r.params.ripcord_leverage or by_margin


def simulate_ripcord(r: VaultRecord, market: MarketInfo, now: int) -> Outcome:
    """IScalingVault.ripcord() (anyone) at block timestamp `now`."""
    try:
        _strict_account(r)
        a = r.account
        p = r.params
        lev0 = leverage_up(a.gross_notional, a.equity)
        threshold = ripcord_threshold(r)
        by_margin = a.gross_notional != 0 and a.equity < threshold
        if lev0 < p.ripcord_leverage and not by_margin:
            raise RuleError("RipcordNotTriggered", lev0, p.ripcord_leverage, a.equity, threshold)
        last = r.state.last_trade_at
        if now < last + p.ripcord_cooldown:
            raise RuleError("RipcordCooldownNotElapsed", last, p.ripcord_cooldown, now)
        fraction = ripcord_fraction(a.gross_notional, a.equity, lev0, p.max_leverage, p.leverage_cap, p.ripcord_max_trade_notional)
        c = _Ctx(p=p, st=r.state, equity0=a.equity, gross0=a.gross_notional, maint0=a.maintenance_requirement, lev0=lev0, paused=r.state.paused)
        rounding = trade_rounding_wad(market.token_scale)
        change = 0
        cut_total = 0
        legs: list[Leg] = []
        for i, pos in enumerate(r.positions):
            size = pos.size
            if size == 0:
                continue
            held = abs(size)
            cut = min(mul_div(held, fraction, WAD, True), held)
            if cut == 0:
                continue
            price = _price(r, i)
            delta = -cut if size > 0 else cut
            acceptable = acceptable_bound(price, delta, p.ripcord_slippage)
            fill, fee_wad = _venue_trade(c, r, market, i, size, delta, acceptable)
            change += mul_div_down_signed(delta, price - fill, WAD) - fee_wad - rounding
            cut_total += notional_up(size, price) - notional_up(size + delta, price)
            legs.append(Leg(i, pos.asset_id, price, size, delta, 0, fill, fee_wad))
        equity1 = a.equity + change
    except RuleError as e:
        return _fail(e)
    return Outcome(
        ok=True, leverage_before=lev0, leverage_after=leverage_up(a.gross_notional - cut_total, equity1),
        equity_after=equity1, gross_after=a.gross_notional - cut_total, traded=cut_total, cut=cut_total,
        legs=tuple(legs),
    )


def simulate(action: int, r: VaultRecord, adjustments: Sequence[tuple[int, int, int]], market: MarketInfo, now: int) -> Outcome:
    if action == REBALANCE:
        return simulate_rebalance(r, adjustments, market, now)
    if action == ITERATE:
        return simulate_iterate(r, market, now)
    if action == RIPCORD:
        return simulate_ripcord(r, market, now)
    return Outcome(ok=False, error="NothingToPerform")
