"""Exact integer mirror of the perpetual market's math (contracts/market/libraries/PerpMath.sol).

Every function here returns bit-for-bit what the Solidity library returns for the same inputs; the
differential test (tests/unit/test_market_math_diff.py) checks this over fuzzed inputs against the
compiled contract. The planner and the backtester settle amounts with these functions, never with floats.

Units (the same names as on-chain):
- prices, sizes, notionals, PnL, funding and fees in WAD (1e18) fixed point; prices are quoted in
  collateral units per asset unit, so a notional is a collateral amount in WAD;
- token amounts (collateral balances, pool) in the collateral token's own decimals;
- ratios (fees, margin ratios) as WAD fractions; funding rates per day as WAD fractions.

Rounding always goes against the trader (or LP) and in favour of the market. Signed helpers take an
explicit direction: ``up`` means toward +infinity, ``down`` toward -infinity.
"""

from __future__ import annotations

from dataclasses import dataclass

WAD = 10**18
SECONDS_PER_DAY = 86_400


class MathError(ValueError):
    """Input outside the domain the on-chain math accepts (the contract reverts on the same input)."""


# --- primitive rounding helpers -------------------------------------------------------------------


def mul_div_down(a: int, b: int, d: int) -> int:
    """floor(a*b/d) for a, b >= 0, d > 0."""
    if a < 0 or b < 0 or d <= 0:
        raise MathError(f"mul_div_down: operands must be non-negative and d > 0 (a={a}, b={b}, d={d})")
    return a * b // d


def mul_div_up(a: int, b: int, d: int) -> int:
    """ceil(a*b/d) for a, b >= 0, d > 0."""
    if a < 0 or b < 0 or d <= 0:
        raise MathError(f"mul_div_up: operands must be non-negative and d > 0 (a={a}, b={b}, d={d})")
    return -((-a * b) // d)


def mul_div_signed(a: int, b: int, d: int, up: bool) -> int:
    """a*b/d rounded toward +inf (up=True) or -inf (up=False); d > 0."""
    if d <= 0:
        raise MathError(f"mul_div_signed: d must be > 0 (d={d})")
    p = a * b
    return -((-p) // d) if up else p // d


def div_trunc(a: int, d: int) -> int:
    """Solidity's signed division: truncation toward zero."""
    if d == 0:
        raise MathError("division by zero")
    q = abs(a) // abs(d)
    return q if (a >= 0) == (d > 0) else -q


# --- token <-> WAD conversion ---------------------------------------------------------------------


def token_scale(decimals: int) -> int:
    if not 0 <= decimals <= 18:
        raise MathError(f"collateral decimals must be in [0, 18], got {decimals}")
    return int(10 ** (18 - decimals))


def wad_to_token_down(amount_wad: int, scale: int) -> int:
    """Credit to a user: round toward -inf."""
    return amount_wad // scale


def wad_to_token_up(amount_wad: int, scale: int) -> int:
    """Debit from a user: round toward +inf."""
    return -((-amount_wad) // scale)


# --- trading --------------------------------------------------------------------------------------


def fill_price(price: int, skew: int, size_delta: int, skew_scale: int) -> int:
    """Synthetix v2 fill: average of the premium before and after the trade.

    fill = p + p * (2*skew + delta) / (2*skewScale), rounded up for buys and down for sells.
    """
    if price <= 0 or skew_scale <= 0:
        raise MathError(f"fill_price: price and skew_scale must be > 0 (price={price}, skew_scale={skew_scale})")
    impact = mul_div_signed(price, 2 * skew + size_delta, 2 * skew_scale, size_delta > 0)
    fill = price + impact
    if fill <= 0:
        raise MathError(f"fill_price: non-positive fill {fill}")
    return fill


def notional_up(size: int, price: int) -> int:
    """|size| * price / WAD rounded up (requirements and fees)."""
    return mul_div_up(abs(size), price, WAD)


def trading_fee(size_delta: int, fill: int, fee_rate: int) -> int:
    """Fee in WAD: ceil(ceil(|delta| * fill) * rate)."""
    return mul_div_up(notional_up(size_delta, fill), fee_rate, WAD)


def split_fee(fee_token: int, insurance_share: int) -> tuple[int, int]:
    """(to insurance, to pool) in token units; the insurance share rounds down."""
    to_insurance = mul_div_down(fee_token, insurance_share, WAD)
    return to_insurance, fee_token - to_insurance


# --- funding --------------------------------------------------------------------------------------


def funding_rate(skew: int, skew_scale: int, max_funding_rate: int) -> int:
    """Per-day rate (WAD, signed): clamp(skew/skewScale, -1, 1) * maxFundingRate, truncated."""
    proportional = div_trunc(skew * WAD, skew_scale)
    proportional = max(-WAD, min(WAD, proportional))
    return div_trunc(proportional * max_funding_rate, WAD)


def funding_index_delta(rate: int, price: int, elapsed: int) -> int:
    """Change of the cumulative funding index (WAD collateral per unit size) over `elapsed` seconds."""
    return div_trunc(div_trunc(rate * price, WAD) * elapsed, SECONDS_PER_DAY)


def funding_owed(size: int, index_now: int, index_at_entry: int) -> int:
    """Funding a position owes the pool (negative: receives), WAD, rounded up (against the trader)."""
    return mul_div_signed(size, index_now - index_at_entry, WAD, True)


# --- positions ------------------------------------------------------------------------------------


def unrealized_pnl(size: int, open_notional: int, price: int) -> int:
    """size*price - openNotional, the mark rounded down (against the trader)."""
    return mul_div_signed(size, price, WAD, False) - open_notional


@dataclass(frozen=True)
class TradeResult:
    new_size: int
    new_open_notional: int
    realized_pnl: int  # WAD, before fees and funding


def apply_trade(size: int, open_notional: int, size_delta: int, fill: int) -> TradeResult:
    """Average-cost accounting: increases add to the cost basis, reductions realize PnL pro rata."""
    if size == 0 or (size > 0) == (size_delta > 0):
        added = mul_div_signed(size_delta, fill, WAD, True)
        return TradeResult(size + size_delta, open_notional + added, 0)
    if abs(size_delta) <= abs(size):
        closed = -size_delta  # same sign as size
        removed_basis = mul_div_signed(open_notional, abs(closed), abs(size), True)
        realized = mul_div_signed(closed, fill, WAD, False) - removed_basis
        return TradeResult(size + size_delta, open_notional - removed_basis, realized)
    realized = mul_div_signed(size, fill, WAD, False) - open_notional
    remainder = size + size_delta
    return TradeResult(remainder, mul_div_signed(remainder, fill, WAD, True), realized)


def is_reduce_only(size: int, size_delta: int) -> bool:
    """True when the trade moves the position toward zero without crossing it."""
    return size != 0 and (size > 0) != (size_delta > 0) and abs(size_delta) <= abs(size)


# --- margin ---------------------------------------------------------------------------------------


def keeper_fee(gross_notional: int, liquidation_fee_ratio: int, min_keeper_fee: int, max_keeper_fee: int) -> int:
    """Liquidation reward (WAD) = clamp(gross * ratio, min, max); zero without positions."""
    if gross_notional == 0:
        return 0
    fee = mul_div_up(gross_notional, liquidation_fee_ratio, WAD)
    if fee < min_keeper_fee:
        return min_keeper_fee
    if fee > max_keeper_fee:
        return max_keeper_fee
    return fee


@dataclass(frozen=True)
class PositionMark:
    """One open position marked at a price: the inputs the margin functions need."""

    size: int
    open_notional: int
    funding_owed: int
    price: int
    initial_margin_ratio: int
    maintenance_margin_ratio: int


@dataclass(frozen=True)
class MarginState:
    equity: int  # WAD, may be negative
    gross_notional: int  # WAD
    initial_requirement: int  # WAD
    maintenance_requirement: int  # WAD


def margin_state(
    collateral_token: int,
    scale: int,
    marks: list[PositionMark],
    liquidation_fee_ratio: int,
    min_keeper_fee: int,
    max_keeper_fee: int,
) -> MarginState:
    """Cross-margin state of one account, exactly as `PerpMarket.marginState` computes it."""
    equity = collateral_token * scale
    gross = 0
    initial = 0
    maintenance = 0
    for m in marks:
        equity += unrealized_pnl(m.size, m.open_notional, m.price) - m.funding_owed
        n = notional_up(m.size, m.price)
        gross += n
        initial += mul_div_up(n, m.initial_margin_ratio, WAD)
        maintenance += mul_div_up(n, m.maintenance_margin_ratio, WAD)
    kf = keeper_fee(gross, liquidation_fee_ratio, min_keeper_fee, max_keeper_fee)
    return MarginState(equity, gross, initial + kf, maintenance + kf)


def is_liquidatable(state: MarginState) -> bool:
    return state.gross_notional > 0 and state.equity < state.maintenance_requirement


# --- LP pool shares -------------------------------------------------------------------------------

LP_VIRTUAL_SHARES = 10**6  # OpenZeppelin-style decimals offset of 6 against the inflation attack
LP_VIRTUAL_ASSETS = 1


def lp_shares_for_deposit(amount: int, total_shares: int, pool_value: int) -> int:
    """Shares minted for a deposit, rounded down (against the LP)."""
    return mul_div_down(amount, total_shares + LP_VIRTUAL_SHARES, pool_value + LP_VIRTUAL_ASSETS)


def lp_assets_for_shares(shares: int, total_shares: int, pool_value: int) -> int:
    """Collateral paid for burning shares, rounded down (against the LP)."""
    return mul_div_down(shares, pool_value + LP_VIRTUAL_ASSETS, total_shares + LP_VIRTUAL_SHARES)
