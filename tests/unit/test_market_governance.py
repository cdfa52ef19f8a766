"""PerpMarket unit tests: construction, listAsset, setAssetConfig, setRiskParams, pause / unpause, role gating,
parameter ranges at both bounds, and the static views.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_market_helpers import (  # noqa: F401 (fixtures are used by name)
    BTC,
    BTC_CONFIG,
    ETH,
    ETH_CONFIG,
    ETH_PRICE,
    FEED_MAX_AGE,
    RISK_PARAMS,
    WAD,
    call_revert,
    check_accounting_identity,
    deploy_revert,
    deposit,
    driver,
    fresh_feeds,
    error,
    reverts_with,
    role,
)

pytestmark = pytest.mark.usefixtures("fresh_feeds", "check_accounting_identity")

ZERO = "0x" + "00" * 20
RISK_MANAGER_ROLE = role("RISK_MANAGER_ROLE")
GUARDIAN_ROLE = role("GUARDIAN_ROLE")
DEFAULT_ADMIN_ROLE = b"\0" * 32
MIN_IMR, MIN_MMR, MAX_FEE, MAX_FUNDING = 10**16, 10**15, 10**16, WAD
MAX_LIQUIDATION_FEE_RATIO, MAX_KEEPER_FEE = 5 * 10**16, 10**6 * WAD
CONFIG_FIELDS = ("oracleKey", "skewScale", "maxOpenInterest", "initialMarginRatio", "maintenanceMarginRatio")
CONFIG_FIELDS += ("tradingFee", "maxFundingRate")
RISK_FIELDS = ("liquidationFeeRatio", "insuranceFeeShare", "lpReserveRatio", "minKeeperFee", "maxKeeperFee")


def config(**changes: int) -> tuple[Any, ...]:
    return tuple(changes.get(f, v) for f, v in zip(CONFIG_FIELDS, ETH_CONFIG, strict=True))


def risk(**changes: int) -> tuple[int, ...]:
    return tuple(changes.get(f, v) for f, v in zip(RISK_FIELDS, RISK_PARAMS, strict=True))


def as_uint(key: bytes) -> int:
    return int.from_bytes(key, "big")


# ------------------------------------------------------------------------------------------------ construction


def test_deployment_state(market, token, oracle, governance, collateral_decimals):
    assert market.collateralToken() == token.address
    assert market.oracle() == oracle.address
    assert market.collateralScale() == 10 ** (18 - collateral_decimals)
    assert market.assetCount() == 2
    assert tuple(market.assetConfig(ETH)) == ETH_CONFIG
    assert tuple(market.assetConfig(BTC)) == BTC_CONFIG
    assert tuple(market.riskParams()) == RISK_PARAMS
    assert not market.paused()
    assert market.totalBadDebt() == 0
    assert market.MAX_ASSETS() == 128
    assert (market.RISK_MANAGER_ROLE(), market.GUARDIAN_ROLE()) == (RISK_MANAGER_ROLE, GUARDIAN_ROLE)
    for r in (DEFAULT_ADMIN_ROLE, RISK_MANAGER_ROLE, GUARDIAN_ROLE):
        assert market.hasRole(r, governance)
    st = market.assetState(ETH)
    assert (st.fundingIndex, st.longOpenInterest, st.shortOpenInterest, st.sumOpenNotional) == (0, 0, 0, 0)


def test_views_of_unknown_assets_and_empty_accounts(market, trader):
    assert call_revert(market.assetConfig, 2) == error(market.UnknownAsset, 2, 2)
    assert call_revert(market.assetState, 7) == error(market.UnknownAsset, 7, 2)
    assert tuple(market.position(trader, ETH)) == (0, 0, 0)
    assert tuple(market.position(trader, 99)) == (0, 0, 0)
    assert (market.collateralOf(trader), market.openAssets(trader), market.lpShares(trader)) == (0, 0, 0)


@pytest.mark.parametrize("which", ["collateral", "oracle", "admin"])
def test_constructor_rejects_zero_addresses(project, market, token, oracle, governance, which):
    args = {"collateral": token.address, "oracle": oracle.address, "admin": governance.address, which: ZERO}
    data = deploy_revert(project.PerpMarket, args["collateral"], args["oracle"], args["admin"], RISK_PARAMS)
    assert data == error(market.ZeroAddress)


def test_constructor_checks_collateral_decimals(project, market, oracle, governance):
    too_many = project.MockERC20.deploy("Nineteen", "N19", 19, sender=governance)
    data = deploy_revert(project.PerpMarket, too_many.address, oracle.address, governance.address, RISK_PARAMS)
    assert data == error(market.InvalidCollateralDecimals, 19)

    for decimals in (0, 18):
        token = project.MockERC20.deploy("T", "T", decimals, sender=governance)
        fresh = project.PerpMarket.deploy(token, oracle, governance, RISK_PARAMS, sender=governance)
        assert fresh.collateralScale() == 10 ** (18 - decimals)
        assert fresh.hasRole(DEFAULT_ADMIN_ROLE, governance)
        assert tuple(fresh.riskParams()) == RISK_PARAMS
        assert fresh.assetCount() == 0


def test_constructor_validates_risk_params(project, market, token, oracle, governance):
    deploy = (token.address, oracle.address, governance.address)
    data = deploy_revert(project.PerpMarket, *deploy, risk(minKeeperFee=2 * WAD, maxKeeperFee=WAD))
    assert data == error(market.KeeperFeesOutOfOrder, 2 * WAD, WAD)
    data = deploy_revert(project.PerpMarket, *deploy, risk(insuranceFeeShare=WAD + 1))
    assert data == error(market.InvalidParameter, "insuranceFeeShare", WAD + 1, 0, WAD)


# ------------------------------------------------------------------------------------------------ listAsset


@pytest.fixture
def sol_key(project: Any, oracle: Any, governance: Any) -> bytes:
    """A third asset registered in the oracle (SOL at 150, 8-decimal feed)."""
    feed = project.MockAggregator.deploy(8, "SOL / USD", 150 * 10**8, sender=governance)
    key = b"SOL".ljust(32, b"\0")
    oracle.setFeed(key, feed, FEED_MAX_AGE, sender=governance)
    return key


def test_list_asset(market, driver, governance, trader, deposit, sol_key):
    cfg = config(oracleKey=sol_key, skewScale=10**7 * WAD, maxOpenInterest=10**6 * WAD)
    ts = driver.next_ts()

    receipt = market.listAsset(cfg, sender=governance)

    [log] = receipt.decode_logs(market.AssetListed)
    assert (log.assetId, log.oracleKey, tuple(log.config)) == (2, sol_key, cfg)
    assert receipt.return_value == 2
    assert market.assetCount() == 3
    assert tuple(market.assetConfig(2)) == cfg
    assert tuple(market.assetState(2)) == (0, ts, 0, 0, 0, 0)
    deposit(trader, 1_000)
    _, exp = driver.trade(trader, 2, 10 * WAD)
    assert exp.price == 150 * WAD


def test_list_asset_accepts_an_8_byte_oracle_key(project, market, oracle, governance):
    key = b"ABCDEFGH".ljust(32, b"\0")
    feed = project.MockAggregator.deploy(8, "ABCDEFGH / USD", 5 * 10**8, sender=governance)
    oracle.setFeed(key, feed, FEED_MAX_AGE, sender=governance)

    market.listAsset(config(oracleKey=key), sender=governance)

    assert market.assetConfig(2).oracleKey == key


def test_long_oracle_key_error_reports_the_accepted_key_range(market, governance):
    """BUG (PerpMarket._validateAssetConfig): the `max` argument is `type(uint64).max << 192`, a uint64 shift
    that truncates to 0, so the error says the accepted range is [0, 0] instead of keys up to 0xff..ff << 192.
    The key itself is rejected as it should be; only the reported bound is wrong."""
    key = b"ETHEREUM9".ljust(32, b"\0")  # 9 bytes: would be truncated by the packed storage
    with reverts_with(market.InvalidParameter, "oracleKey", as_uint(key), 0, (2**64 - 1) << 192):
        market.listAsset(config(oracleKey=key), sender=governance)


def test_list_asset_needs_a_price(market, oracle, governance):
    key = b"DOGE".ljust(32, b"\0")
    assert call_revert(market.listAsset, config(oracleKey=key), sender=governance) == error(oracle.UnknownAsset, key)


def test_list_asset_needs_the_risk_manager_role(market, trader, sol_key):
    with reverts_with(market.AccessControlUnauthorizedAccount, trader.address, RISK_MANAGER_ROLE):
        market.listAsset(config(oracleKey=sol_key), sender=trader)


def test_at_most_128_assets_and_the_last_one_trades(market, driver, governance, trader, deposit):
    for _ in range(126):
        market.listAsset(ETH_CONFIG, sender=governance)
    assert market.assetCount() == 128
    with reverts_with(market.TooManyAssets, 128):
        market.listAsset(ETH_CONFIG, sender=governance)

    deposit(trader, 10_000)
    driver.trade(trader, 127, WAD)  # bit 127 of the uint128 open mask
    driver.trade(trader, ETH, WAD)
    assert market.openAssets(trader) == (1 << 127) | 1
    state = driver.expect_margin(trader, driver.now())
    assert tuple(market.marginState(trader)) == (
        state.equity,
        state.gross_notional,
        state.initial_requirement,
        state.maintenance_requirement,
    )
    driver.trade(trader, 127, -WAD)
    assert market.openAssets(trader) == 1


# ------------------------------------------------------------------------------------------------ config ranges

S = ETH_CONFIG[1]
ASSET_CONFIG_CASES = [
    # (changes, expected error name and arguments, or None when the config is valid)
    ({"skewScale": WAD - 1}, ("InvalidParameter", "skewScale", WAD - 1, WAD, 2**96 - 1)),
    ({"skewScale": WAD, "maxOpenInterest": WAD // 2}, None),
    ({"skewScale": 2**96 - 1}, None),  # the packed storage keeps 96 bits
    ({"skewScale": 2**96}, ("InvalidParameter", "skewScale", 2**96, WAD, 2**96 - 1)),
    ({"maxOpenInterest": 0}, ("InvalidParameter", "maxOpenInterest", 0, 1, S // 2)),
    ({"maxOpenInterest": 1}, None),
    ({"maxOpenInterest": S // 2}, None),
    ({"maxOpenInterest": S // 2 + 1}, ("InvalidParameter", "maxOpenInterest", S // 2 + 1, 1, S // 2)),
    (
        {"initialMarginRatio": MIN_IMR - 1, "maintenanceMarginRatio": MIN_MMR},
        ("InvalidParameter", "initialMarginRatio", MIN_IMR - 1, MIN_IMR, WAD),
    ),
    ({"initialMarginRatio": MIN_IMR, "maintenanceMarginRatio": MIN_MMR}, None),
    ({"initialMarginRatio": WAD}, None),
    ({"initialMarginRatio": WAD + 1}, ("InvalidParameter", "initialMarginRatio", WAD + 1, MIN_IMR, WAD)),
    ({"maintenanceMarginRatio": MIN_MMR - 1}, ("MarginRatiosOutOfOrder", 4 * 10**16, MIN_MMR - 1)),
    ({"maintenanceMarginRatio": 4 * 10**16}, ("MarginRatiosOutOfOrder", 4 * 10**16, 4 * 10**16)),
    ({"maintenanceMarginRatio": 4 * 10**16 - 1}, None),
    ({"tradingFee": 0}, None),
    ({"tradingFee": MAX_FEE}, None),
    ({"tradingFee": MAX_FEE + 1}, ("InvalidParameter", "tradingFee", MAX_FEE + 1, 0, MAX_FEE)),
    ({"maxFundingRate": 0}, None),
    ({"maxFundingRate": MAX_FUNDING}, None),
    ({"maxFundingRate": MAX_FUNDING + 1}, ("InvalidParameter", "maxFundingRate", MAX_FUNDING + 1, 0, MAX_FUNDING)),
]


def _case_id(case: tuple[dict[str, int], Any]) -> str:
    changes, expected = case
    return "-".join(f"{k}={v}" for k, v in changes.items()) + ("-ok" if expected is None else "-reverts")


@pytest.mark.parametrize("entry", ["listAsset", "setAssetConfig"])
@pytest.mark.parametrize("case", ASSET_CONFIG_CASES, ids=[_case_id(c) for c in ASSET_CONFIG_CASES])
def test_asset_config_ranges(market, governance, entry, case):
    changes, expected = case
    cfg = config(**changes)
    send = (lambda: market.listAsset(cfg, sender=governance)) if entry == "listAsset" else (
        lambda: market.setAssetConfig(ETH, cfg, sender=governance)
    )
    if expected is None:
        send()
        assert tuple(market.assetConfig(2 if entry == "listAsset" else ETH)) == cfg
    else:
        name, *args = expected
        with reverts_with(getattr(market, name), *args):
            send()


# ------------------------------------------------------------------------------------------------ setAssetConfig


def test_set_asset_config_updates_and_emits(market, governance):
    cfg = config(maxOpenInterest=123 * WAD, tradingFee=7 * 10**14)

    receipt = market.setAssetConfig(ETH, cfg, sender=governance)

    [log] = receipt.decode_logs(market.AssetConfigUpdated)
    assert (log.assetId, tuple(log.config)) == (ETH, cfg)
    assert tuple(market.assetConfig(ETH)) == cfg
    assert tuple(market.assetConfig(BTC)) == BTC_CONFIG


def test_set_asset_config_rejects_unknown_assets_and_a_new_oracle_key(market, governance):
    with reverts_with(market.UnknownAsset, 5, 2):
        market.setAssetConfig(5, ETH_CONFIG, sender=governance)
    key = as_uint(ETH_CONFIG[0])
    with reverts_with(market.InvalidParameter, "oracleKey", as_uint(BTC_CONFIG[0]), key, key):
        market.setAssetConfig(ETH, config(oracleKey=BTC_CONFIG[0]), sender=governance)


def test_set_asset_config_needs_the_risk_manager_role(market, trader, governance, accounts):
    guardian = accounts[9]
    market.grantRole(GUARDIAN_ROLE, guardian, sender=governance)
    for account in (trader, guardian):
        with reverts_with(market.AccessControlUnauthorizedAccount, account.address, RISK_MANAGER_ROLE):
            market.setAssetConfig(ETH, ETH_CONFIG, sender=account)


def test_set_asset_config_accrues_funding_at_the_old_rate_first(market, driver, governance, trader, deposit):
    deposit(trader, 100_000)
    receipt, _ = driver.trade(trader, ETH, 1_000 * WAD)
    ts = driver.next_ts(1_000)
    old_rate_index = driver.index_at(ETH, ETH_PRICE, ts)

    faster = config(maxFundingRate=5 * 10**17)
    assert market.setAssetConfig(ETH, faster, sender=governance).timestamp == ts

    st = market.assetState(ETH)
    assert (st.fundingIndex, st.lastFundingTime) == (old_rate_index, ts)
    assert old_rate_index == 10**17 * 1_000 // 86_400  # 0.05/day * 1000/1e6 skew * 2000, for 1000 s
    now = driver.mine_at(1_000)
    assert market.currentFundingIndex(ETH, ETH_PRICE) == old_rate_index + 10**18 * 1_000 // 86_400
    assert market.currentFundingIndex(ETH, ETH_PRICE) == driver.index_at(ETH, ETH_PRICE, now)
    assert receipt.timestamp < ts


def test_set_asset_config_skips_accrual_without_a_usable_price(market, driver, eth_feed, governance, trader, deposit):
    deposit(trader, 100_000)
    receipt, _ = driver.trade(trader, ETH, 1_000 * WAD)
    eth_feed.setAnswer(0, sender=governance)

    market.setAssetConfig(ETH, config(maxFundingRate=5 * 10**17), sender=governance)

    st = market.assetState(ETH)
    assert (st.fundingIndex, st.lastFundingTime) == (0, receipt.timestamp)


# ------------------------------------------------------------------------------------------------ setRiskParams

RISK_CASES = [
    ({"liquidationFeeRatio": 0}, None),
    ({"liquidationFeeRatio": MAX_LIQUIDATION_FEE_RATIO}, None),
    (
        {"liquidationFeeRatio": MAX_LIQUIDATION_FEE_RATIO + 1},
        ("InvalidParameter", "liquidationFeeRatio", MAX_LIQUIDATION_FEE_RATIO + 1, 0, MAX_LIQUIDATION_FEE_RATIO),
    ),
    ({"insuranceFeeShare": 0}, None),
    ({"insuranceFeeShare": WAD}, None),
    ({"insuranceFeeShare": WAD + 1}, ("InvalidParameter", "insuranceFeeShare", WAD + 1, 0, WAD)),
    ({"lpReserveRatio": 0}, None),
    ({"lpReserveRatio": WAD}, None),
    ({"lpReserveRatio": WAD + 1}, ("InvalidParameter", "lpReserveRatio", WAD + 1, 0, WAD)),
    ({"maxKeeperFee": MAX_KEEPER_FEE}, None),
    ({"maxKeeperFee": MAX_KEEPER_FEE + 1}, ("InvalidParameter", "maxKeeperFee", MAX_KEEPER_FEE + 1, 0, MAX_KEEPER_FEE)),
    ({"minKeeperFee": 0, "maxKeeperFee": 0}, None),
    ({"minKeeperFee": 1_000 * WAD}, None),
    ({"minKeeperFee": 1_000 * WAD + 1}, ("KeeperFeesOutOfOrder", 1_000 * WAD + 1, 1_000 * WAD)),
]


@pytest.mark.parametrize("case", RISK_CASES, ids=[_case_id(c) for c in RISK_CASES])
def test_risk_param_ranges(market, governance, case):
    changes, expected = case
    params = risk(**changes)
    if expected is None:
        receipt = market.setRiskParams(params, sender=governance)
        assert tuple(market.riskParams()) == params
        [log] = receipt.decode_logs(market.RiskParamsUpdated)
        assert tuple(log.params) == params
    else:
        name, *args = expected
        with reverts_with(getattr(market, name), *args):
            market.setRiskParams(params, sender=governance)


def test_set_risk_params_needs_the_risk_manager_role(market, trader):
    with reverts_with(market.AccessControlUnauthorizedAccount, trader.address, RISK_MANAGER_ROLE):
        market.setRiskParams(RISK_PARAMS, sender=trader)


def test_set_risk_params_keeps_the_pause_and_applies_to_the_next_trade(market, driver, governance, trader, deposit):
    market.pause(sender=governance)
    market.setRiskParams(risk(insuranceFeeShare=WAD), sender=governance)
    assert market.paused()
    market.unpause(sender=governance)
    deposit(trader, 10_000)

    _, exp = driver.trade(trader, ETH, 10 * WAD)

    assert exp.to_insurance == exp.fee > 0  # the whole fee goes to insurance now


# ------------------------------------------------------------------------------------------------ pause


def test_pause_and_unpause(market, governance):
    receipt = market.pause(sender=governance)
    assert market.paused()
    [log] = receipt.decode_logs(market.Paused)
    assert log.by == governance.address

    receipt = market.unpause(sender=governance)
    assert not market.paused()
    [log] = receipt.decode_logs(market.Unpaused)
    assert log.by == governance.address


def test_pause_and_unpause_need_the_guardian_role(market, governance, trader, accounts):
    risk_manager = accounts[9]
    market.grantRole(RISK_MANAGER_ROLE, risk_manager, sender=governance)
    for account in (trader, risk_manager):
        with reverts_with(market.AccessControlUnauthorizedAccount, account.address, GUARDIAN_ROLE):
            market.pause(sender=account)
    market.pause(sender=governance)
    with reverts_with(market.AccessControlUnauthorizedAccount, trader.address, GUARDIAN_ROLE):
        market.unpause(sender=trader)


def test_a_granted_guardian_can_pause_but_not_list(market, governance, accounts):
    guardian = accounts[9]
    market.grantRole(GUARDIAN_ROLE, guardian, sender=governance)
    market.pause(sender=guardian)
    assert market.paused()
    with reverts_with(market.AccessControlUnauthorizedAccount, guardian.address, RISK_MANAGER_ROLE):
        market.listAsset(ETH_CONFIG, sender=guardian)
