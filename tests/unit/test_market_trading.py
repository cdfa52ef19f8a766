"""PerpMarket unit tests: margin deposits and withdrawals, modifyPosition in every shape, funding, oracle
failures, cross margin and the trading views.

Every trade sent through `driver.trade` is checked field by field (event, return values, position, collateral,
pool, insurance, open interest, aggregates, MKT-1) against the reference model built on keeper/market_math.py;
the hand-computed numbers below guard the model itself. MKT-1 is also asserted when every test ends.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from test_market_helpers import (  # noqa: F401 (fixtures are used by name)
    BTC,
    ETH,
    ETH_PRICE,
    FEED_MAX_AGE,
    MAX_UINT,
    WAD,
    Driver,
    TradeExpectation,
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


def margin_after(driver: Driver, account: Any, exp: TradeExpectation, asset_id: int, ts: int) -> mm.MarginState:
    """The margin state the market checks right after the trade `exp` (sent at `ts`, then reverted)."""
    m = driver.market
    cfg = m.assetConfig(asset_id)
    marks = [
        mm.PositionMark(
            exp.new_size, exp.new_open_notional, 0, exp.price, cfg.initialMarginRatio, cfg.maintenanceMarginRatio
        )
    ]
    others = m.openAssets(account) & ~(1 << asset_id)
    for other in [i for i in range(others.bit_length()) if others >> i & 1]:
        pos, c = m.position(account, other), m.assetConfig(other)
        price = driver.price(other)
        owed = mm.funding_owed(pos.size, driver.index_at(other, price, ts), pos.lastFundingIndex)
        marks.append(
            mm.PositionMark(pos.size, pos.openNotional, owed, price, c.initialMarginRatio, c.maintenanceMarginRatio)
        )
    risk = m.riskParams()
    return mm.margin_state(
        exp.collateral, driver.scale, marks, risk.liquidationFeeRatio, risk.minKeeperFee, risk.maxKeeperFee
    )


def assert_trade_reverts_below_initial(driver: Driver, account: Any, asset_id: int, size_delta: int) -> None:
    ts = driver.next_ts()
    exp = driver.expect_trade(account, asset_id, size_delta, driver.price(asset_id), ts)
    state = margin_after(driver, account, exp, asset_id, ts)
    assert state.equity < state.initial_requirement, "test setup: the trade should fail the margin check"
    with reverts_with(driver.market.InsufficientMargin, state.equity, state.initial_requirement):
        driver.market.modifyPosition(asset_id, size_delta, MAX_UINT if size_delta > 0 else 0, MAX_UINT, sender=account)


def set_config(market: Any, governance: Any, asset_id: int, **changes: int) -> None:
    cfg = market.assetConfig(asset_id)
    fields = ["oracleKey", "skewScale", "maxOpenInterest", "initialMarginRatio", "maintenanceMarginRatio"]
    fields += ["tradingFee", "maxFundingRate"]
    market.setAssetConfig(asset_id, tuple(changes.get(f, getattr(cfg, f)) for f in fields), sender=governance)


def feed_updated_at(feed: Any) -> int:
    return int(feed.latestRoundData().updatedAt)


# ------------------------------------------------------------------------------------------------ margin


def test_deposit_margin_credits_the_account(market, token, trader, fund, units):
    fund(trader, units(1_500))
    before = token.balanceOf(market)

    receipt = market.depositMargin(units(1_000), sender=trader)
    market.depositMargin(units("0.5"), sender=trader)

    assert market.collateralOf(trader) == units("1000.5")
    assert token.balanceOf(market) == before + units("1000.5")
    assert token.balanceOf(trader) == units("499.5")
    [log] = receipt.decode_logs(market.MarginDeposited)
    assert (log.account, log.amount) == (trader.address, units(1_000))


def test_deposit_margin_rejects_zero(market, trader):
    with reverts_with(market.ZeroAmount):
        market.depositMargin(0, sender=trader)


def test_deposit_margin_needs_an_allowance(market, token, accounts, governance, units):
    stranger = accounts[8]
    token.mint(stranger, units(10), sender=governance)

    with reverts_with(token.ERC20InsufficientAllowance, market.address, 0, units(10)):
        market.depositMargin(units(10), sender=stranger)


def test_withdraw_margin_without_positions_returns_everything(market, token, trader, deposit, units):
    deposit(trader, 1_000)

    receipt = market.withdrawMargin(units(400), sender=trader)
    market.withdrawMargin(units(600), sender=trader)

    assert market.collateralOf(trader) == 0
    assert token.balanceOf(trader) == units(1_000)
    [log] = receipt.decode_logs(market.MarginWithdrawn)
    assert (log.account, log.amount) == (trader.address, units(400))


def test_withdraw_margin_rejects_zero(market, trader, deposit):
    deposit(trader, 10)
    with reverts_with(market.ZeroAmount):
        market.withdrawMargin(0, sender=trader)


def test_withdraw_margin_above_collateral_reverts(market, trader, trader2, deposit, units):
    deposit(trader, 1_000)
    with reverts_with(market.InsufficientCollateral, units(1_000), units(1_000) + 1):
        market.withdrawMargin(units(1_000) + 1, sender=trader)
    with reverts_with(market.InsufficientCollateral, 0, 1):
        market.withdrawMargin(1, sender=trader2)


def test_withdraw_margin_with_positions_stops_at_the_initial_requirement(market, token, driver, trader, deposit):
    deposit(trader, 10_000)
    driver.trade(trader, ETH, wad(50))

    ts = driver.next_ts()
    state = driver.expect_margin(trader, ts)
    too_much = (state.equity - state.initial_requirement) // driver.scale + 1
    with reverts_with(market.InsufficientMargin, state.equity - too_much * driver.scale, state.initial_requirement):
        market.withdrawMargin(too_much, sender=trader)

    ts = driver.next_ts()
    state = driver.expect_margin(trader, ts)
    most = (state.equity - state.initial_requirement) // driver.scale
    collateral = market.collateralOf(trader)
    receipt = market.withdrawMargin(most, sender=trader)

    assert receipt.timestamp == ts
    assert market.collateralOf(trader) == collateral - most
    assert token.balanceOf(trader) == most
    after = market.marginState(trader)
    assert 0 <= after.equity - after.initialRequirement < driver.scale


def test_deposit_margin_beyond_the_int128_collateral_reverts(market, governance, trader, fund):
    fund(trader, 2**127)
    with reverts_with(market.SafeCastOverflowedIntDowncast, 128, 2**127):
        market.depositMargin(2**127, sender=trader)
    market.depositMargin(2**127 - 1, sender=trader)
    assert market.collateralOf(trader) == 2**127 - 1


def test_margin_moves_work_while_paused(market, governance, trader, deposit, units):
    deposit(trader, 100)
    market.pause(sender=governance)

    market.withdrawMargin(units(40), sender=trader)
    market.depositMargin(units(40), sender=trader)

    assert market.collateralOf(trader) == units(100)


# ------------------------------------------------------------------------------------------------ trade shapes


def test_open_long_hand_computed(market, driver, trader, deposit, units):
    deposit(trader, 100_000)
    pool, insurance = market.poolAssets(), market.insuranceFund()
    assert tuple(market.modifyPosition.call(ETH, wad(100), MAX_UINT, MAX_UINT, sender=trader)) == (
        wad("2000.1"),
        units("100.005"),
    )

    receipt, exp = driver.trade(trader, ETH, wad(100))

    # fill = 2000 * (1 + 100 / (2 * 1e6)); fee = 100 * 2000.1 * 0.0005, 20 % of it to insurance.
    assert (exp.fill, exp.fee, exp.realized, exp.funding_paid) == (wad("2000.1"), units("100.005"), 0, 0)
    assert market.position(trader, ETH).openNotional == wad(200_010)
    assert market.collateralOf(trader) == units("99899.995")
    assert market.insuranceFund() == insurance + units("20.001")
    assert market.poolAssets() == pool + units("80.004")
    assert market.assetState(ETH).longOpenInterest == wad(100)
    assert market.openAssets(trader) == 1 << ETH


def test_open_short_hand_computed(market, driver, trader, deposit, units):
    deposit(trader, 100_000)

    _, exp = driver.trade(trader, ETH, -wad(100))

    assert (exp.fill, exp.fee) == (wad("1999.9"), units("99.995"))
    assert market.position(trader, ETH).openNotional == -wad(199_990)
    assert market.assetState(ETH).shortOpenInterest == wad(100)
    assert market.collateralOf(trader) == units("99900.005")


def test_increase_adds_to_the_cost_basis(market, driver, trader, deposit):
    deposit(trader, 100_000)
    driver.trade(trader, ETH, wad(100))

    _, exp = driver.trade(trader, ETH, wad(50), dt=600)

    # skew 100 before the trade: fill = 2000 * (1 + (200 + 50) / 2e6) = 2000.25
    assert exp.fill == wad("2000.25")
    assert (exp.new_size, exp.new_open_notional, exp.realized) == (wad(150), wad("300022.5"), 0)
    assert exp.funding_paid > 0  # 600 s of funding on the first 100 ETH, settled by the trade


def test_decrease_realizes_pnl_pro_rata(driver, governance, trader, deposit, units):
    deposit(trader, 100_000)
    driver.trade(trader, ETH, wad(100))
    driver.set_price(ETH, wad(2_100), governance)

    _, exp = driver.trade(trader, ETH, -wad(40))

    # fill = 2100 * (1 + (200 - 40) / 2e6) = 2100.168; realized = 40 * 2100.168 - 200010 * 40 / 100
    assert exp.fill == wad("2100.168")
    assert exp.realized == units("4002.72")
    assert exp.fee == units("42.00336")
    assert (exp.new_size, exp.new_open_notional) == (wad(60), wad(120_006))


def test_close_deletes_the_position(market, driver, trader, deposit):
    deposit(trader, 100_000)
    driver.trade(trader, ETH, wad(100))

    _, exp = driver.trade(trader, ETH, -wad(100))

    assert (exp.fill, exp.realized, exp.new_size, exp.new_open_notional) == (wad("2000.1"), 0, 0, 0)
    st = market.assetState(ETH)
    assert (st.longOpenInterest, st.shortOpenInterest, st.sumOpenNotional, st.sumFundingBasis) == (0, 0, 0, 0)
    assert market.openAssets(trader) == 0


def test_flip_long_to_short_realizes_the_whole_position(market, driver, trader, deposit, units):
    deposit(trader, 100_000)
    driver.trade(trader, ETH, wad(100))

    _, exp = driver.trade(trader, ETH, -wad(150))

    # fill = 2000 * (1 + (200 - 150) / 2e6) = 2000.05; realized = 100 * 2000.05 - 200010 = -5
    assert (exp.fill, exp.realized, exp.fee) == (wad("2000.05"), -units(5), units("150.00375"))
    assert (exp.new_size, exp.new_open_notional) == (-wad(50), -wad("100002.5"))
    st = market.assetState(ETH)
    assert (st.longOpenInterest, st.shortOpenInterest) == (0, wad(50))


def test_flip_short_to_long(driver, trader, deposit):
    deposit(trader, 100_000)
    driver.trade(trader, ETH, -wad(30))

    _, exp = driver.trade(trader, ETH, wad(80), dt=3_000)

    assert not exp.reduce_only
    assert (exp.new_size, exp.new_open_notional) == (wad(50), mm.mul_div_signed(wad(50), exp.fill, WAD, True))


# ------------------------------------------------------------------------------------------------ trade guards


def test_slippage_bound_is_inclusive(market, driver, trader, deposit):
    deposit(trader, 100_000)
    buy_fill, sell_fill = wad("2000.1"), wad("1999.9")

    with reverts_with(market.SlippageExceeded, buy_fill, buy_fill - 1, True):
        market.modifyPosition(ETH, wad(100), buy_fill - 1, MAX_UINT, sender=trader)
    with reverts_with(market.SlippageExceeded, sell_fill, sell_fill + 1, False):
        market.modifyPosition(ETH, -wad(100), sell_fill + 1, MAX_UINT, sender=trader)

    receipt = market.modifyPosition(ETH, wad(100), buy_fill, MAX_UINT, sender=trader)
    assert receipt.decode_logs(market.PositionModified)[0].fillPrice == buy_fill
    # skew is now +100: selling 100 fills at 2000 * (1 + 100 / 2e6) = 2000.1
    receipt = market.modifyPosition(ETH, -wad(100), wad("2000.1"), MAX_UINT, sender=trader)
    assert receipt.decode_logs(market.PositionModified)[0].fillPrice == wad("2000.1")


def test_deadline_is_inclusive(market, driver, trader, deposit):
    deposit(trader, 100_000)

    ts = driver.next_ts(10)
    with reverts_with(market.DeadlineExpired, ts - 1, ts):
        market.modifyPosition(ETH, wad(1), MAX_UINT, ts - 1, sender=trader)

    ts = driver.next_ts(10)
    receipt = market.modifyPosition(ETH, wad(1), MAX_UINT, ts, sender=trader)
    assert receipt.timestamp == ts
    assert market.position(trader, ETH).size == wad(1)


def test_zero_size_delta_reverts(market, trader, deposit):
    deposit(trader, 1_000)
    with reverts_with(market.ZeroSizeDelta):
        market.modifyPosition(ETH, 0, MAX_UINT, MAX_UINT, sender=trader)


def test_unknown_asset_reverts(market, trader, deposit):
    deposit(trader, 1_000)
    with reverts_with(market.UnknownAsset, 2, 2):
        market.modifyPosition(2, wad(1), MAX_UINT, MAX_UINT, sender=trader)


def test_non_positive_fill_price_reverts(market, trader, deposit):
    deposit(trader, 1_000)
    # fill = 2000 * (1 + delta / 2e6): zero at delta = -2e6, -1000 at delta = -3e6
    with reverts_with(market.NonPositiveFillPrice, 0):
        market.modifyPosition(ETH, -wad(2_000_000), 0, MAX_UINT, sender=trader)
    with reverts_with(market.NonPositiveFillPrice, -wad(1_000)):
        market.modifyPosition(ETH, -wad(3_000_000), 0, MAX_UINT, sender=trader)


def test_trade_below_the_initial_requirement_reverts(market, driver, trader, trader2, deposit):
    deposit(trader, 1_000)
    # 12 ETH needs 0.04 * 24000 + keeper fee 48 = 1008 of equity; 10 ETH needs 840.
    assert_trade_reverts_below_initial(driver, trader, ETH, wad(12))
    assert_trade_reverts_below_initial(driver, trader2, ETH, wad(1))  # no margin at all

    driver.trade(trader, ETH, wad(10))
    state = market.marginState(trader)
    assert state.initialRequirement == wad(840)


def test_open_interest_cap_per_side_and_reduce_only_above_it(
    market, driver, governance, trader, trader2, depositor, deposit
):
    for account in (trader, trader2, depositor):
        deposit(account, 100_000)
    set_config(market, governance, ETH, maxOpenInterest=wad(150))
    driver.trade(trader, ETH, wad(100))

    with reverts_with(market.OpenInterestCapExceeded, ETH, wad(151), wad(150)):
        market.modifyPosition(ETH, wad(51), MAX_UINT, MAX_UINT, sender=trader2)
    driver.trade(trader2, ETH, wad(50))  # exactly at the cap
    with reverts_with(market.OpenInterestCapExceeded, ETH, wad(151), wad(150)):
        market.modifyPosition(ETH, -wad(151), 0, MAX_UINT, sender=depositor)

    set_config(market, governance, ETH, maxOpenInterest=wad(10))
    driver.trade(trader, ETH, -wad(20))  # reduce-only, long OI 130 stays above the cap of 10
    with reverts_with(market.OpenInterestCapExceeded, ETH, wad(131), wad(10)):
        market.modifyPosition(ETH, wad(1), MAX_UINT, MAX_UINT, sender=trader)
    driver.trade(trader2, ETH, -wad(60))  # flip: the new short side (10) is checked, and it fits
    with reverts_with(market.OpenInterestCapExceeded, ETH, wad(11), wad(10)):
        market.modifyPosition(ETH, -wad(1), 0, MAX_UINT, sender=depositor)


def test_paused_market_allows_only_reduce_only_trades(market, driver, governance, trader, trader2, deposit):
    deposit(trader, 100_000)
    deposit(trader2, 100_000)
    driver.trade(trader, ETH, wad(100))
    market.pause(sender=governance)

    for account, delta in ((trader, wad(1)), (trader, -wad(150)), (trader2, wad(1)), (trader2, -wad(1))):
        with reverts_with(market.MarketPaused):
            market.modifyPosition(ETH, delta, MAX_UINT if delta > 0 else 0, MAX_UINT, sender=account)
    driver.trade(trader, ETH, -wad(40))
    driver.trade(trader, ETH, -wad(60))

    market.unpause(sender=governance)
    driver.trade(trader2, ETH, wad(1))


def test_reduce_only_trade_is_allowed_below_maintenance(market, driver, governance, trader, deposit):
    deposit(trader, 1_000)
    driver.trade(trader, ETH, wad(10))
    driver.set_price(ETH, wad(1_930), governance)  # equity ~290 < maintenance 386 + 38.6
    assert market.canLiquidate(trader)

    assert_trade_reverts_below_initial(driver, trader, ETH, wad(1))
    _, exp = driver.trade(trader, ETH, -wad(2))

    assert exp.reduce_only and exp.new_size == wad(8)
    assert market.canLiquidate(trader)  # still below maintenance after the reduction


# ------------------------------------------------------------------------------------------------ oracle failures


def test_stale_price_blocks_trades_with_the_oracle_error(market, oracle, driver, eth_feed, trader, deposit, units):
    deposit(trader, 100_000)
    driver.trade(trader, ETH, wad(10))
    updated = feed_updated_at(eth_feed)
    key = market.assetConfig(ETH).oracleKey

    driver.trade(trader, ETH, wad(1), dt=updated + FEED_MAX_AGE - driver.now())  # age == maxAge: still fresh

    now = driver.mine_at(1)
    stale = error(oracle.StalePrice, key, eth_feed.address, updated, FEED_MAX_AGE, now)
    assert call_revert(market.modifyPosition, ETH, wad(1), MAX_UINT, MAX_UINT, sender=trader) == stale
    assert call_revert(market.modifyPosition, ETH, -wad(1), 0, MAX_UINT, sender=trader) == stale  # reduce-only too
    assert call_revert(market.withdrawMargin, units(1), sender=trader) == stale


def test_old_answer_blocks_trades(market, oracle, driver, eth_feed, governance, trader, deposit):
    deposit(trader, 100_000)
    old = driver.now() - FEED_MAX_AGE - 1
    eth_feed.setAnswerAt(2_000 * 10**8, old, sender=governance)
    key = market.assetConfig(ETH).oracleKey

    ts = driver.next_ts()
    with reverts_with(oracle.StalePrice, key, eth_feed.address, old, FEED_MAX_AGE, ts):  # as a mined transaction
        market.modifyPosition(ETH, wad(1), MAX_UINT, MAX_UINT, sender=trader)

    driver.set_price(ETH, ETH_PRICE, governance)
    driver.trade(trader, ETH, wad(1))


@pytest.mark.parametrize("answer", [0, -1])
def test_non_positive_price_blocks_trades_in_every_asset_of_the_account(
    market, oracle, driver, eth_feed, governance, trader, deposit, answer
):
    deposit(trader, 100_000)
    driver.trade(trader, ETH, wad(10))
    eth_feed.setAnswer(answer, sender=governance)
    expected = error(oracle.NonPositivePrice, market.assetConfig(ETH).oracleKey, eth_feed.address, answer)

    assert call_revert(market.modifyPosition, ETH, wad(1), MAX_UINT, MAX_UINT, sender=trader) == expected
    assert call_revert(market.modifyPosition, ETH, -wad(1), 0, MAX_UINT, sender=trader) == expected
    # A BTC trade checks the whole account, so it needs the ETH price as well.
    assert call_revert(market.modifyPosition, BTC, wad("0.1"), MAX_UINT, MAX_UINT, sender=trader) == expected


# ------------------------------------------------------------------------------------------------ cross margin


def test_cross_margin_profit_in_one_asset_supports_another(market, driver, governance, trader, deposit):
    deposit(trader, 1_000)
    driver.trade(trader, ETH, wad(10))
    assert_trade_reverts_below_initial(driver, trader, BTC, wad("0.5"))

    driver.set_price(ETH, wad(2_400), governance)  # +3999.9 unrealized on ETH
    _, exp = driver.trade(trader, BTC, wad("0.5"))

    assert exp.fill == wad("60000.3")
    btc = market.assetConfig(BTC)
    btc_initial = mm.mul_div_up(mm.notional_up(wad("0.5"), 60_000 * WAD), btc.initialMarginRatio, WAD)
    assert market.collateralOf(trader) * driver.scale < btc_initial  # the collateral alone would not do
    state = market.marginState(trader)
    assert state.equity >= state.initialRequirement
    assert market.openAssets(trader) == (1 << ETH) | (1 << BTC)


def test_collateral_goes_negative_while_another_position_carries_profit(
    market, token, driver, governance, trader, deposit
):
    deposit(trader, 1_000)
    driver.trade(trader, ETH, wad(10))
    driver.set_price(ETH, wad(2_400), governance)
    driver.trade(trader, BTC, wad("0.5"))
    driver.set_price(BTC, wad(54_000), governance)

    _, exp = driver.trade(trader, BTC, -wad("0.5"))  # realizes about -3000 against ~975 of collateral

    # fill = 54000 * (1 + (1 - 0.5) / 1e5) = 54000.27; realized = 27000.135 - 30000.15
    assert exp.fill == wad("54000.27")
    assert exp.realized == -mm.wad_to_token_up(wad("3000.015"), driver.scale)
    assert exp.collateral < 0 and exp.bad_debt == 0
    with reverts_with(market.InsufficientCollateral, exp.collateral, 1):
        market.withdrawMargin(1, sender=trader)

    _, exp = driver.trade(trader, ETH, -wad(10))
    assert exp.collateral > 0
    market.withdrawMargin(exp.collateral, sender=trader)
    assert token.balanceOf(trader) == exp.collateral


# ------------------------------------------------------------------------------------------------ funding


def _one_day_later(driver: Driver, governance: Any, since: int) -> None:
    """Refreshes the ETH feed at `since` + 1 day - 1 s (feeds are stale after an hour); the next block is at +1 day."""
    driver.chain.pending_timestamp = since + 86_400 - 1
    driver.feeds[ETH].setAnswer(driver.price(ETH) // 10**10, sender=governance)
    assert driver.now() == since + 86_400 - 1


def test_longs_pay_funding_when_skew_is_positive(market, driver, governance, trader, deposit, units):
    deposit(trader, 100_000)
    receipt, opened = driver.trade(trader, ETH, wad(1_000))
    assert (opened.fill, opened.fee) == (wad(2_001), units("1000.5"))
    _one_day_later(driver, governance, receipt.timestamp)
    pool = market.poolAssets()

    receipt, exp = driver.trade(trader, ETH, -wad(1_000))

    # rate = 1000 / 1e6 * 0.05 per day; index += rate * 2000 = 0.1 per ETH; 1000 ETH pay 100.
    assert exp.index == wad("0.1")
    assert exp.funding_paid == units(100)
    assert (exp.fill, exp.realized) == (wad(2_001), 0)
    assert market.poolAssets() - pool == units(100) + units("1000.5") - units("200.1")


def test_shorts_pay_funding_when_skew_is_negative(market, driver, governance, trader, deposit, units):
    deposit(trader, 100_000)
    receipt, _ = driver.trade(trader, ETH, -wad(1_000))
    _one_day_later(driver, governance, receipt.timestamp)

    _, exp = driver.trade(trader, ETH, wad(1_000))

    assert exp.index == -wad("0.1")
    assert exp.funding_paid == units(100)
    assert (exp.fill, exp.realized) == (wad(1_999), 0)


def test_the_minority_side_receives_funding(market, driver, governance, trader, trader2, deposit):
    deposit(trader, 100_000)
    deposit(trader2, 100_000)
    receipt, _ = driver.trade(trader, ETH, wad(1_000))
    driver.trade(trader2, ETH, -wad(400))
    _one_day_later(driver, governance, receipt.timestamp)

    _, long_close = driver.trade(trader, ETH, -wad(1_000))
    _, short_close = driver.trade(trader2, ETH, wad(400))

    assert long_close.funding_paid > 0 > short_close.funding_paid
    assert long_close.funding_paid + short_close.funding_paid > 0  # the pool keeps the net


def test_current_funding_index_accrues_in_the_view_only(market, driver, trader, deposit):
    deposit(trader, 100_000)
    receipt, _ = driver.trade(trader, ETH, wad(1_000))

    ts = driver.mine_at(1_000)

    # (5e13 * price / 1e18) * 1000 / 86400, truncated
    assert market.currentFundingIndex(ETH, ETH_PRICE) == 10**17 * 1_000 // 86_400
    assert market.currentFundingIndex(ETH, wad(2_500)) == 125 * 10**15 * 1_000 // 86_400
    assert market.currentFundingIndex(ETH, ETH_PRICE) == driver.index_at(ETH, ETH_PRICE, ts)
    assert market.currentFundingIndex(BTC, 60_000 * WAD) == 0
    st = market.assetState(ETH)
    assert (st.fundingIndex, st.lastFundingTime) == (0, receipt.timestamp)
    assert call_revert(market.currentFundingIndex, 2, ETH_PRICE) == error(market.UnknownAsset, 2, 2)


# ------------------------------------------------------------------------------------------------ views


def test_quote_fill_price_matches_the_model(market, oracle, driver, eth_feed, trader, deposit):
    deposit(trader, 100_000)
    driver.trade(trader, ETH, wad(100))

    assert market.quoteFillPrice(ETH, wad(50)) == wad("2000.25") == mm.fill_price(ETH_PRICE, wad(100), wad(50), 10**24)
    assert market.quoteFillPrice(ETH, -wad(50)) == wad("2000.15")
    assert market.quoteFillPrice(BTC, wad(1)) == mm.fill_price(60_000 * WAD, 0, wad(1), 5 * 10**22)
    assert call_revert(market.quoteFillPrice, ETH, 0) == error(market.ZeroSizeDelta)
    assert call_revert(market.quoteFillPrice, 9, wad(1)) == error(market.UnknownAsset, 9, 2)
    assert call_revert(market.quoteFillPrice, ETH, -wad(2_000_200)) == error(market.NonPositiveFillPrice, 0)

    updated = feed_updated_at(eth_feed)
    ts = driver.mine_at(updated + FEED_MAX_AGE + 1 - driver.now())
    key = market.assetConfig(ETH).oracleKey
    stale = error(oracle.StalePrice, key, eth_feed.address, updated, FEED_MAX_AGE, ts)
    assert call_revert(market.quoteFillPrice, ETH, wad(1)) == stale


def _state(s: Any) -> tuple[int, ...]:
    """(equity, grossNotional, initialRequirement, maintenanceRequirement) of a MarginState struct."""
    return tuple(s)


def _expected(s: mm.MarginState) -> tuple[int, int, int, int]:
    return (s.equity, s.gross_notional, s.initial_requirement, s.maintenance_requirement)


def test_margin_views_match_the_model(market, oracle, driver, eth_feed, governance, trader, trader2, deposit, units):
    deposit(trader, 10_000)
    deposit(trader2, 5)
    driver.trade(trader, ETH, wad(50))
    driver.trade(trader, BTC, -wad(1))

    ts = driver.mine_at(500)
    expected = _expected(driver.expect_margin(trader, ts))
    assert _state(market.marginState(trader)) == expected
    ok, state = market.tryMarginState(trader)
    assert ok and _state(state) == expected
    assert not market.canLiquidate(trader)
    # Without positions: collateral only, no keeper fee.
    assert _state(market.marginState(trader2)) == (units(5) * driver.scale, 0, 0, 0)
    assert not market.canLiquidate(trader2)

    driver.set_price(ETH, wad(1_850), governance)
    assert market.canLiquidate(trader)

    updated = feed_updated_at(eth_feed)
    ts = driver.mine_at(updated + FEED_MAX_AGE + 1 - driver.now())
    ok, _ = market.tryMarginState(trader)
    assert not ok
    assert not market.canLiquidate(trader)
    key = market.assetConfig(ETH).oracleKey
    stale = error(oracle.StalePrice, key, eth_feed.address, updated, FEED_MAX_AGE, ts)
    assert call_revert(market.marginState, trader) == stale


def test_odd_sizes_and_prices_round_against_the_trader(market, driver, governance, trader, trader2, deposit):
    """Sizes and prices with all 18 decimals used, so that every mulDiv in funding, PnL and fees has a remainder
    and a wrong rounding direction shows up (round sizes divide exactly and would hide it)."""
    deposit(trader, 50_000)
    deposit(trader2, 50_000)
    driver.trade(trader, ETH, wad("12.345678901234567891"))
    driver.trade(trader2, ETH, -wad("3.000000000000000007"))
    driver.trade(trader, BTC, -wad("0.123456789012345679"))
    driver.mine_at(1_234)
    driver.set_price(ETH, wad("2011.12345678"), governance)
    driver.set_price(BTC, wad("59876.54321987"), governance)

    ts = driver.mine_at(77)
    for account in (trader, trader2):
        assert _state(market.marginState(account)) == _expected(driver.expect_margin(account, ts))
    assert market.poolValue() == driver.expect_pool(ts).value_for_withdrawal

    driver.trade(trader, ETH, -wad("5.555555555555555557"), dt=301)
    driver.trade(trader2, ETH, wad("7.000000000000000011"), dt=13)  # flip to long
    driver.trade(trader, BTC, wad("0.123456789012345679"), dt=7)  # close
