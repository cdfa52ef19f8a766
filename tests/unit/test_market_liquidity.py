"""PerpMarket unit tests: LP deposits and withdrawals (virtual shares, slippage bounds, free liquidity), the
insurance fund, and the pool value with open positions and pending funding.

Expected shares and amounts come from keeper/market_math.py (lp_shares_for_deposit / lp_assets_for_shares) on
the pool value the reference model computes at the transaction's timestamp (`driver.expect_pool`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from test_market_helpers import (  # noqa: F401 (fixtures are used by name)
    ETH,
    ETH_CONFIG,
    FEED_MAX_AGE,
    MAX_UINT,
    RISK_PARAMS,
    WAD,
    Driver,
    call_revert,
    check_accounting_identity,
    deposit,
    driver,
    fresh_feeds,
    error,
    reverts_with,
)

from keeper import market_math as mm

pytestmark = pytest.mark.usefixtures("fresh_feeds", "check_accounting_identity")

SEED = 10_000_000
INSURANCE_SEED = 100_000


def wad(x: str | int) -> int:
    return int(Decimal(str(x)) * WAD)


@pytest.fixture
def provide(market: Any, fund: Any, units: Any) -> Any:
    """provide(account, amount) -> shares: mint, approve and deposit liquidity."""

    def do(account: Any, amount: str | int) -> int:
        value = units(amount)
        fund(account, value)
        receipt = market.depositLiquidity(value, 0, sender=account)
        return int(receipt.decode_logs(market.LiquidityDeposited)[0].shares)

    return do


def checked_deposit(driver: Driver, account: Any, amount: int, min_shares: int = 0) -> int:
    m = driver.market
    ts = driver.next_ts()
    pool = driver.expect_pool(ts)
    supply, held = m.totalLpShares(), m.lpShares(account)
    shares = mm.lp_shares_for_deposit(amount, supply, pool.value_for_deposit)

    receipt = m.depositLiquidity(amount, min_shares, sender=account)

    assert receipt.timestamp == ts
    [log] = receipt.decode_logs(m.LiquidityDeposited)
    assert (log.event_arguments["provider"], log.amount, log.shares) == (account.address, amount, shares)
    assert receipt.return_value == shares
    assert (m.lpShares(account), m.totalLpShares()) == (held + shares, supply + shares)
    assert m.poolAssets() == pool.assets + amount
    return shares


def checked_withdrawal(driver: Driver, account: Any, shares: int, min_amount: int = 0) -> int:
    m = driver.market
    ts = driver.next_ts()
    pool = driver.expect_pool(ts)
    supply, held = m.totalLpShares(), m.lpShares(account)
    balance = driver.token.balanceOf(account)
    amount = mm.lp_assets_for_shares(shares, supply, pool.value_for_withdrawal)

    receipt = m.withdrawLiquidity(shares, min_amount, sender=account)

    assert receipt.timestamp == ts
    [log] = receipt.decode_logs(m.LiquidityWithdrawn)
    assert (log.event_arguments["provider"], log.shares, log.amount) == (account.address, shares, amount)
    assert receipt.return_value == amount
    assert (m.lpShares(account), m.totalLpShares()) == (held - shares, supply - shares)
    assert m.poolAssets() == pool.assets - amount
    assert driver.token.balanceOf(account) == balance + amount
    return amount


# ------------------------------------------------------------------------------------------------ deposits


def test_seed_state(market, governance, units):
    # The deployer seeded 10M as the first depositor: shares = 10M * (0 + 1e6) / (0 + 1).
    assert market.totalLpShares() == market.lpShares(governance) == units(SEED) * 10**6
    assert market.poolAssets() == market.poolValue() == units(SEED)
    assert market.insuranceFund() == units(INSURANCE_SEED)


def test_deposit_liquidity_mints_shares_at_the_pool_value(market, driver, lp, fund, units):
    fund(lp, units(1_000))

    shares = checked_deposit(driver, lp, units(1_000))

    # (supply + 1e6) / (value + 1) = (10M * 1e6 + 1e6) / (10M + 1) = 1e6 exactly
    assert shares == units(1_000) * 10**6


def test_deposit_liquidity_rejects_zero(market, lp):
    with reverts_with(market.ZeroAmount):
        market.depositLiquidity(0, 0, sender=lp)


def test_deposit_liquidity_is_blocked_while_paused(market, governance, lp, fund, units):
    fund(lp, units(10))
    market.pause(sender=governance)
    with reverts_with(market.MarketPaused):
        market.depositLiquidity(units(10), 0, sender=lp)


def test_deposit_liquidity_min_shares_is_inclusive(market, driver, lp, fund, units):
    fund(lp, units(20))
    shares = units(10) * 10**6

    with reverts_with(market.SharesBelowMinimum, shares, shares + 1):
        market.depositLiquidity(units(10), shares + 1, sender=lp)
    assert checked_deposit(driver, lp, units(10), min_shares=shares) == shares


def test_deposit_is_priced_with_trader_pnl_and_pending_funding(
    market, driver, governance, trader, lp, deposit, fund, units
):
    deposit(trader, 100_000)
    driver.trade(trader, ETH, wad(1_000))
    driver.set_price(ETH, wad(2_050), governance)
    driver.mine_at(1_800)
    fund(lp, units(50_000))

    ts = driver.now()
    pool = driver.expect_pool(ts)
    assert market.poolValue() == pool.value_for_withdrawal
    assert pool.trader_claim > 0 and pool.value_for_deposit < pool.assets
    shares = checked_deposit(driver, lp, units(50_000))
    assert shares > units(50_000) * 10**6  # the traders' profit lowered the share price


# ------------------------------------------------------------------------------------------------ withdrawals


def test_withdraw_liquidity_pays_pro_rata(market, driver, governance, units):
    shares = market.lpShares(governance) // 4

    amount = checked_withdrawal(driver, governance, shares)

    # value / supply = (10M + 1) / (10M * 1e6 + 1e6) = 1e-6 exactly
    assert amount == units(SEED) // 4


def test_withdraw_liquidity_rejects_zero_and_missing_shares(market, governance, lp):
    balance = market.lpShares(governance)
    with reverts_with(market.ZeroAmount):
        market.withdrawLiquidity(0, 0, sender=governance)
    with reverts_with(market.InsufficientShares, balance + 1, balance):
        market.withdrawLiquidity(balance + 1, 0, sender=governance)
    with reverts_with(market.InsufficientShares, 1, 0):
        market.withdrawLiquidity(1, 0, sender=lp)


def test_withdraw_liquidity_min_amount_is_inclusive(market, driver, governance, units):
    shares = units(100) * 10**6
    with reverts_with(market.AmountBelowMinimum, units(100), units(100) + 1):
        market.withdrawLiquidity(shares, units(100) + 1, sender=governance)
    # A dust withdrawal that rounds down to nothing is refused too.
    with reverts_with(market.AmountBelowMinimum, 0, 0):
        market.withdrawLiquidity(10**6 - 1, 0, sender=governance)

    assert checked_withdrawal(driver, governance, shares, min_amount=units(100)) == units(100)


def test_withdraw_liquidity_works_while_paused(market, driver, governance):
    market.pause(sender=governance)
    checked_withdrawal(driver, governance, market.lpShares(governance) // 10)


def test_deposit_then_withdraw_never_returns_more(market, driver, governance, trader, lp, deposit, fund, units):
    cfg = market.assetConfig(ETH)
    market.setAssetConfig(ETH, (*tuple(cfg)[:6], 0), sender=governance)  # no funding: the LP earns nothing
    deposit(trader, 100_000)
    driver.trade(trader, ETH, wad(700))
    driver.set_price(ETH, wad(1_990), governance)
    fund(lp, units(12_345))

    shares = checked_deposit(driver, lp, units(12_345))
    amount = checked_withdrawal(driver, lp, shares)

    assert amount <= units(12_345)


def test_withdrawal_keeps_back_trader_profit_and_the_reserve(market, driver, governance, trader, deposit):
    deposit(trader, 100_000)
    driver.trade(trader, ETH, wad(1_000))
    driver.set_price(ETH, wad(2_100), governance)  # traders ~ +99k, reserve 0.1 * 2.1M

    ts = driver.next_ts()
    pool = driver.expect_pool(ts)
    assert pool.trader_claim > 0 and pool.reserve == mm.mul_div_up(wad(2_100_000), 10**17, WAD * driver.scale)
    assert pool.free == pool.assets - pool.trader_claim - pool.reserve
    everything = market.lpShares(governance)
    amount = mm.lp_assets_for_shares(everything, market.totalLpShares(), pool.value_for_withdrawal)
    with reverts_with(market.InsufficientFreeLiquidity, amount, pool.free):
        market.withdrawLiquidity(everything, 0, sender=governance)

    pool = driver.expect_pool(driver.now() + 1)  # checked_withdrawal sends at head + 1
    most = pool.free * (market.totalLpShares() + mm.LP_VIRTUAL_SHARES) // (pool.value_for_withdrawal + 1)
    assert checked_withdrawal(driver, governance, most) <= pool.free


def test_unrealized_trader_losses_cannot_be_withdrawn(market, driver, governance, trader, deposit):
    market.setRiskParams((*RISK_PARAMS[:2], 0, *RISK_PARAMS[3:]), sender=governance)  # no reserve
    deposit(trader, 200_000)
    driver.trade(trader, ETH, wad(1_000))
    driver.set_price(ETH, wad(1_900), governance)  # traders ~ -101k: in the value, not in the pool's cash

    ts = driver.next_ts()
    pool = driver.expect_pool(ts)
    assert pool.trader_claim < 0 and pool.value_for_withdrawal > pool.assets == pool.free
    everything = market.lpShares(governance)
    amount = mm.lp_assets_for_shares(everything, market.totalLpShares(), pool.value_for_withdrawal)
    with reverts_with(market.InsufficientFreeLiquidity, amount, pool.assets):
        market.withdrawLiquidity(everything, 0, sender=governance)


def test_pool_exposure_above_pool_assets_is_refused(market, driver, governance, trader, deposit, units):
    """A trade that grows the skew may not leave |skew| * price above the pool's assets (10M seeded): trader
    profit then cannot outrun the pool before the price has doubled against it."""
    deposit(trader, 7_000_000)
    price = driver.price(ETH)
    size = wad(50_000)  # 100M notional against a 10M pool
    ts = driver.next_ts()
    # The check runs after the trade's fee has reached the pool.
    pool_wad = driver.expect_trade(trader, ETH, size, price, ts).pool * driver.scale
    exposure = mm.notional_up(size, price)
    with reverts_with(market.PoolExposureExceeded, ETH, exposure, pool_wad):
        market.modifyPosition(ETH, size, MAX_UINT, MAX_UINT, sender=trader)

    # Just inside the bound the trade goes through (the fee is paid to the pool before the check).
    _, exp = driver.trade(trader, ETH, wad(4_900))
    assert mm.notional_up(exp.new_size, price) <= market.poolAssets() * driver.scale
    # Trading against the skew is never limited by the exposure bound.
    _, exp = driver.trade(trader, ETH, -wad(4_900))
    assert exp.new_size == 0


# ------------------------------------------------------------------------------------------------ insurance


def test_fund_insurance(market, token, driver, governance, depositor, fund, units):
    fund(depositor, units(500))
    insurance, value = market.insuranceFund(), market.poolValue()

    receipt = market.fundInsurance(units(500), sender=depositor)

    [log] = receipt.decode_logs(market.InsuranceFunded)
    assert (log.event_arguments["from"], log.amount) == (depositor.address, units(500))
    assert market.insuranceFund() == insurance + units(500)
    assert market.poolValue() == value  # insurance is not LP value
    assert token.balanceOf(depositor) == 0


def test_fund_insurance_rejects_zero_and_works_while_paused(market, governance, depositor, fund, units):
    fund(depositor, units(1))
    with reverts_with(market.ZeroAmount):
        market.fundInsurance(0, sender=depositor)
    market.pause(sender=governance)
    market.fundInsurance(units(1), sender=depositor)


def test_fund_insurance_beyond_uint128_reverts(market, depositor, fund):
    fund(depositor, 2**128)
    with reverts_with(market.SafeCastOverflowedUintDowncast, 128, 2**128):
        market.fundInsurance(2**128, sender=depositor)


# ------------------------------------------------------------------------------------------------ views


def test_pool_value_view_matches_the_model(market, oracle, driver, eth_feed, governance, trader, trader2, deposit):
    deposit(trader, 100_000)
    deposit(trader2, 100_000)
    driver.trade(trader, ETH, wad(900))
    driver.trade(trader2, ETH, -wad(300))
    driver.trade(trader2, 1, wad(2))
    driver.mine_at(2_000)
    driver.set_price(ETH, wad(1_987), governance)
    driver.set_price(1, wad(60_500), governance)

    ts = driver.mine_at(700)
    pool = driver.expect_pool(ts)
    assert market.poolValue() == pool.value_for_withdrawal
    # The aggregate claim equals the sum over positions up to rounding (one wei per position and term).
    claim = 0
    for account in (trader, trader2):
        state = driver.expect_margin(account, ts)
        claim += state.equity - market.collateralOf(account) * driver.scale
    assert abs(claim - (pool.assets - pool.value_for_withdrawal) * driver.scale) <= driver.scale + 10

    updated = int(eth_feed.latestRoundData().updatedAt)
    ts = driver.mine_at(updated + FEED_MAX_AGE + 1 - driver.now())
    stale = error(oracle.StalePrice, market.assetConfig(ETH).oracleKey, eth_feed.address, updated, FEED_MAX_AGE, ts)
    assert call_revert(market.poolValue) == stale


# ------------------------------------------------------------------------------------------------ virtual shares


@pytest.fixture
def empty_market(project: Any, token: Any, oracle: Any, governance: Any) -> Any:
    return project.PerpMarket.deploy(token, oracle, governance, RISK_PARAMS, sender=governance)


def test_a_deposit_below_the_minimum_shares_is_refused(empty_market, token, lp, depositor, fund, units):
    m = empty_market
    for account, amount in ((lp, 1), (depositor, units(1))):
        fund(account, amount, spender=m)
    m.depositLiquidity(1, 0, sender=lp)  # 1e6 shares for one token unit
    expected = mm.lp_shares_for_deposit(units(1), m.totalLpShares(), m.poolValue())
    with reverts_with(m.SharesBelowMinimum, expected, expected + 1):
        m.depositLiquidity(units(1), expected + 1, sender=depositor)
    assert token.balanceOf(m) == m.poolAssets() + m.insuranceFund()  # MKT-1, nothing moved


def test_virtual_shares_on_an_empty_pool(empty_market, token, governance, lp, depositor, fund, units):
    m = empty_market
    fund(lp, 1, spender=m)
    fund(depositor, units(1_000), spender=m)

    first = m.depositLiquidity(1, 0, sender=lp).return_value
    # A donation straight to the contract is not pool value, so it cannot inflate the share price.
    token.mint(m, units(1_000_000), sender=governance)
    second = m.depositLiquidity(units(1_000), 0, sender=depositor).return_value

    assert first == mm.lp_shares_for_deposit(1, 0, 0) == 10**6
    assert second == mm.lp_shares_for_deposit(units(1_000), 10**6, 1) == units(1_000) * (2 * 10**6) // 2
    assert m.poolValue() == m.poolAssets() == units(1_000) + 1
    assert m.withdrawLiquidity(first, 0, sender=lp).return_value == 1
    assert m.withdrawLiquidity(second, 0, sender=depositor).return_value == units(1_000)  # the victim loses nothing
    assert m.poolAssets() == 0 and m.totalLpShares() == 0
    assert token.balanceOf(m) == units(1_000_000)  # MKT-1 plus the donation
