"""PerpMarket unit tests: liquidate, the keeper reward and its clamps, bad debt (insurance first, then the pool),
the liquidation threshold, and bad debt on a trader's own close-out.

`driver.liquidate` checks every PositionLiquidated / AccountLiquidated / BadDebt field, the liquidator's reward,
the pool, the insurance fund, totalBadDebt and MKT-1 against the reference model (keeper/market_math.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from test_market_helpers import (  # noqa: F401 (fixtures are used by name)
    BTC,
    ETH,
    FEED_MAX_AGE,
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


def wad(x: str | int) -> int:
    return int(Decimal(str(x)) * WAD)


def crash(driver: Driver, governance: Any, asset_id: int, price: str | int) -> None:
    driver.set_price(asset_id, wad(price), governance)


def test_healthy_account_is_not_liquidatable(market, driver, trader, liquidator, deposit):
    deposit(trader, 10_000)
    driver.trade(trader, ETH, wad(50))

    ts = driver.next_ts()
    state = driver.expect_margin(trader, ts)
    with reverts_with(market.NotLiquidatable, state.equity, state.maintenance_requirement):
        market.liquidate(trader, sender=liquidator)
    assert not market.canLiquidate(trader)


def test_account_without_positions_cannot_be_liquidated(market, trader, trader2, liquidator, deposit):
    deposit(trader, 10)
    with reverts_with(market.NoPositions, trader.address):
        market.liquidate(trader, sender=liquidator)
    with reverts_with(market.NoPositions, trader2.address):
        market.liquidate(trader2, sender=liquidator)


def test_liquidation_pays_the_keeper_fee_and_the_rest_to_the_pool(
    market, driver, governance, trader, liquidator, deposit, units
):
    deposit(trader, 10_000)
    driver.trade(trader, ETH, wad(50))
    crash(driver, governance, ETH, 1_840)  # equity ~1947 < maintenance 1840 + keeper fee 184
    assert market.canLiquidate(trader)
    pool = market.poolAssets()

    _, exp = driver.liquidate(liquidator, trader)

    assert exp.reward == units(184)  # 0.002 * 50 * 1840, inside [2, 1000]
    assert exp.bad_debt == 0
    # What the account had left: 10000 - fee 50.00125 + (50 * 1840 - 100002.5) - funding - reward
    left = units("1763.49875") - exp.to_pool
    assert 0 <= left <= units("0.01")  # the part funding took over two blocks
    assert market.poolAssets() - pool == -exp.closed[0].settled + exp.to_pool
    st = market.assetState(ETH)
    assert (st.longOpenInterest, st.sumOpenNotional, st.sumFundingBasis) == (0, 0, 0)
    assert not market.canLiquidate(trader)

    deposit(trader, 1_000)  # the account is reusable
    driver.trade(trader, ETH, wad(1))


def test_keeper_fee_is_clamped_at_the_minimum(market, driver, governance, trader, liquidator, deposit, units):
    deposit(trader, 50)
    driver.trade(trader, ETH, wad("0.5"))
    crash(driver, governance, ETH, 1_930)  # 0.002 * 965 = 1.93 < min keeper fee 2

    _, exp = driver.liquidate(liquidator, trader)

    assert exp.reward == units(2)
    assert exp.state.maintenance_requirement == wad("19.3") + wad(2)
    assert exp.bad_debt == 0 and exp.to_pool > 0


def test_keeper_fee_is_clamped_at_the_maximum(market, driver, governance, trader, liquidator, deposit, units):
    deposit(trader, 100_000)
    driver.trade(trader, ETH, wad(1_000))
    crash(driver, governance, ETH, 1_920)  # 0.002 * 1.92M = 3840 > max keeper fee 1000

    _, exp = driver.liquidate(liquidator, trader)

    assert exp.reward == units(1_000)
    assert exp.state.maintenance_requirement == wad(38_400) + wad(1_000)
    assert exp.bad_debt == 0


def test_bad_debt_is_covered_by_insurance_first(market, driver, governance, trader, liquidator, deposit, units):
    deposit(trader, 10_000)
    driver.trade(trader, ETH, wad(50))
    crash(driver, governance, ETH, 1_700)  # equity ~ -5052.5
    insurance, pool, total = market.insuranceFund(), market.poolAssets(), market.totalBadDebt()

    _, exp = driver.liquidate(liquidator, trader)

    assert exp.state.equity < 0
    assert exp.reward == units(170)
    # shortfall = loss beyond the collateral + the reward the liquidator is still paid
    assert units("5222.5") <= exp.bad_debt <= units("5222.51")
    assert (exp.from_insurance, exp.from_pool) == (exp.bad_debt, 0)
    assert market.insuranceFund() == insurance - exp.bad_debt
    assert market.totalBadDebt() == total + exp.bad_debt
    assert market.poolAssets() == pool - exp.closed[0].settled  # the close-out loss; the shortfall is on insurance
    assert exp.to_pool == 0


def test_bad_debt_beyond_insurance_falls_on_the_pool(market, driver, governance, trader, liquidator, deposit, units):
    deposit(trader, 500_000)
    driver.trade(trader, ETH, wad(5_000))
    crash(driver, governance, ETH, 1_800)  # equity ~ -530k against ~101k of insurance
    insurance = market.insuranceFund()

    _, exp = driver.liquidate(liquidator, trader)

    assert exp.from_insurance == insurance
    assert exp.from_pool == exp.bad_debt - insurance > 0
    assert market.insuranceFund() == 0
    assert exp.reward == units(1_000)


def test_remaining_margin_below_the_reward_is_bad_debt(market, driver, governance, trader, liquidator, deposit, units):
    deposit(trader, 50)
    driver.trade(trader, ETH, wad("0.5"))
    crash(driver, governance, ETH, 1_903)  # ~0.9997 left after the close-out, the reward is 2
    collateral = market.collateralOf(trader)

    _, exp = driver.liquidate(liquidator, trader)

    left = collateral + exp.closed[0].settled
    assert exp.state.equity > 0 and 0 <= left < exp.reward == units(2)
    assert exp.bad_debt == exp.reward - left
    assert exp.to_pool == 0


def test_liquidation_closes_every_position_with_its_funding(
    market, driver, governance, trader, trader2, liquidator, deposit
):
    deposit(trader, 10_000)
    deposit(trader2, 100_000)
    driver.trade(trader2, ETH, wad(500))  # skew, so that trader's ETH long pays funding
    driver.trade(trader, ETH, wad(50))
    driver.trade(trader, BTC, -wad(1))
    driver.mine_at(3_000)
    crash(driver, governance, ETH, 1_830)
    crash(driver, governance, BTC, 60_000)
    eth = market.position(trader, ETH)

    _, exp = driver.liquidate(liquidator, trader)

    assert [c.asset_id for c in exp.closed] == [ETH, BTC]
    pnl_only = mm.wad_to_token_down(mm.unrealized_pnl(eth.size, eth.openNotional, wad(1_830)), driver.scale)
    assert exp.closed[0].settled < pnl_only  # 3000 s of funding on 50 ETH were charged on top
    assert market.assetState(BTC).shortOpenInterest == 0
    assert market.assetState(ETH).longOpenInterest == wad(500)


def test_liquidation_works_while_paused(market, driver, governance, trader, liquidator, deposit):
    deposit(trader, 10_000)
    driver.trade(trader, ETH, wad(50))
    crash(driver, governance, ETH, 1_840)
    market.pause(sender=governance)

    driver.liquidate(liquidator, trader)


def test_liquidation_needs_fresh_prices(market, oracle, driver, eth_feed, governance, trader, liquidator, deposit):
    deposit(trader, 10_000)
    driver.trade(trader, ETH, wad(50))
    crash(driver, governance, ETH, 1_700)
    updated = int(eth_feed.latestRoundData().updatedAt)

    ts = driver.mine_at(updated + FEED_MAX_AGE + 1 - driver.now())

    key = market.assetConfig(ETH).oracleKey
    stale = error(oracle.StalePrice, key, eth_feed.address, updated, FEED_MAX_AGE, ts)
    assert call_revert(market.liquidate, trader, sender=liquidator) == stale
    assert not market.canLiquidate(trader)


def test_liquidation_threshold_matches_the_model_to_one_feed_tick(
    market, driver, governance, trader, liquidator, deposit
):
    cfg = market.assetConfig(ETH)
    market.setAssetConfig(ETH, (*tuple(cfg)[:6], 0), sender=governance)  # no funding: time-independent equity
    deposit(trader, 10_000)
    driver.trade(trader, ETH, wad(50))
    pos, collateral, risk = market.position(trader, ETH), market.collateralOf(trader), market.riskParams()

    def healthy(answer: int) -> bool:
        mark = mm.PositionMark(
            pos.size, pos.openNotional, 0, answer * 10**10, cfg.initialMarginRatio, cfg.maintenanceMarginRatio
        )
        state = mm.margin_state(
            collateral, driver.scale, [mark], risk.liquidationFeeRatio, risk.minKeeperFee, risk.maxKeeperFee
        )
        return not mm.is_liquidatable(state)

    lo, hi = 1_000 * 10**8, 2_000 * 10**8  # liquidatable at lo, healthy at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if healthy(mid) else (mid, hi)

    feed = driver.feeds[ETH]
    feed.setAnswer(hi, sender=governance)
    assert not market.canLiquidate(trader)
    ts = driver.next_ts()
    state = driver.expect_margin(trader, ts)
    assert 0 <= state.equity - state.maintenance_requirement < 50 * 10**10  # one tick moves equity by 50e10
    with reverts_with(market.NotLiquidatable, state.equity, state.maintenance_requirement):
        market.liquidate(trader, sender=liquidator)

    feed.setAnswer(lo, sender=governance)
    assert market.canLiquidate(trader)
    driver.liquidate(liquidator, trader)


def test_closing_below_zero_records_bad_debt(market, driver, governance, trader, deposit):
    deposit(trader, 10_000)
    driver.trade(trader, ETH, wad(50))
    crash(driver, governance, ETH, 1_700)
    insurance, total = market.insuranceFund(), market.totalBadDebt()

    receipt, exp = driver.trade(trader, ETH, -wad(50))  # reduce-only: allowed below maintenance

    assert exp.bad_debt > 0 and exp.collateral == 0
    [log] = receipt.decode_logs(market.BadDebt)
    assert (log.fromInsurance, log.fromPool) == (exp.bad_debt, 0)
    assert market.insuranceFund() == insurance + exp.to_insurance - exp.bad_debt
    assert market.totalBadDebt() == total + exp.bad_debt


def test_partial_close_below_zero_keeps_the_debt_on_the_account(
    market, driver, governance, trader, liquidator, deposit
):
    deposit(trader, 10_000)
    driver.trade(trader, ETH, wad(50))
    driver.trade(trader, BTC, wad("0.1"))
    crash(driver, governance, ETH, 1_700)
    total = market.totalBadDebt()

    _, exp = driver.trade(trader, ETH, -wad(50))  # BTC stays open: no bad debt yet, collateral < 0

    assert exp.collateral < 0 and exp.bad_debt == 0
    assert market.totalBadDebt() == total
    assert market.canLiquidate(trader)
    _, liq = driver.liquidate(liquidator, trader)
    assert liq.bad_debt > -exp.collateral
    assert market.totalBadDebt() == total + liq.bad_debt


def test_liquidator_reward_is_paid_in_tokens(market, token, driver, governance, trader, liquidator, deposit, units):
    deposit(trader, 10_000)
    driver.trade(trader, ETH, wad(50))
    crash(driver, governance, ETH, 1_840)
    before = token.balanceOf(liquidator)

    reward = market.liquidate.call(trader, sender=liquidator)
    market.liquidate(trader, sender=liquidator)

    assert reward == units(184)
    assert token.balanceOf(liquidator) - before == units(184)
    assert market.collateralOf(liquidator) == 0

