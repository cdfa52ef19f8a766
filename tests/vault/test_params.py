"""Policy validation (constructor and setParams), asset weights, roles and events."""

from typing import Any

import ape
import pytest

from .helpers import WAD, default_params, params_dict, params_tuple


def _deploy(env: Any, **overrides: int) -> Any:
    return env.deploy_vault(params=default_params(env.decimals, **overrides))


@pytest.mark.parametrize(
    "overrides,lower,upper",
    [
        ({"minLeverage": 0}, 0, 0),
        ({"minLeverage": 21 * WAD // 10}, 21 * WAD // 10, 2 * WAD),
        ({"targetLeverage": 24 * WAD // 10}, 24 * WAD // 10, 23 * WAD // 10),
        ({"maxLeverage": 27 * WAD // 10}, 27 * WAD // 10, 27 * WAD // 10),
        ({"ripcordLeverage": 31 * WAD // 10}, 31 * WAD // 10, 3 * WAD),
        ({"leverageCap": 16 * WAD, "ripcordLeverage": 27 * WAD // 10}, 16 * WAD, 15 * WAD),
    ],
)
def test_leverage_order_enforced(env: Any, overrides: dict, lower: int, upper: int) -> None:
    with ape.reverts(env.project.ScalingVault.LeverageOutOfOrder, lower=lower, upper=upper):
        _deploy(env, **overrides)


def test_cooldown_order_enforced(env: Any) -> None:
    with ape.reverts(
        env.project.ScalingVault.CooldownsOutOfOrder, rebalanceInterval=100, chunkCooldown=300, ripcordCooldown=60
    ):
        _deploy(env, rebalanceInterval=100)
    with ape.reverts(
        env.project.ScalingVault.CooldownsOutOfOrder, rebalanceInterval=86_400, chunkCooldown=300, ripcordCooldown=301
    ):
        _deploy(env, ripcordCooldown=301)


@pytest.mark.parametrize(
    "overrides,name,value,lo,hi",
    [
        ({"tolerance": 31 * WAD // 100}, "tolerance", 31 * WAD // 100, 0, 3 * WAD // 10),
        ({"maxSlippage": 6 * WAD // 100, "ripcordSlippage": WAD // 10}, "maxSlippage", 6 * WAD // 100, 0, 5 * WAD // 100),
        ({"ripcordSlippage": WAD // 200}, "ripcordSlippage", WAD // 200, WAD // 100, WAD // 10),
        ({"ripcordSlippage": 11 * WAD // 100}, "ripcordSlippage", 11 * WAD // 100, WAD // 100, WAD // 10),
        ({"maxTradeNotional": 0}, "maxTradeNotional", 0, 1, 2**96 - 1),
        ({"ripcordMaxTradeNotional": 1}, "ripcordMaxTradeNotional", 1, 500_000 * WAD, 2**96 - 1),
        ({"ripcordMarginBuffer": 2 * WAD}, "ripcordMarginBuffer", 2 * WAD, 0, WAD),
    ],
)
def test_parameter_ranges(env: Any, overrides: dict, name: str, value: int, lo: int, hi: int) -> None:
    with ape.reverts(env.project.ScalingVault.InvalidParameter, name=name, value=value, min=lo, max=hi):
        _deploy(env, **overrides)


def test_cap_below_venue_max_leverage(env: Any, vault: Any, governance: Any) -> None:
    eth = env.asset_id("ETH")
    cfg = list(env.market.assetConfig(eth))
    cfg[3], cfg[4] = WAD // 2, WAD // 4  # IMR 50% -> venue max 2x
    env.market.setAssetConfig(eth, cfg, sender=governance)
    with ape.reverts(vault.LeverageCapAboveVenueMax, assetId=eth, leverageCap=3 * WAD, venueMaxLeverage=2 * WAD):
        vault.setParams(params_tuple(default_params(env.decimals)), sender=governance)


def test_weights_must_sum_to_one(env: Any, vault: Any, governance: Any) -> None:
    with ape.reverts(vault.WeightsSumNotOne, sumAbsWeights=9 * WAD // 10):
        vault.setAssetParams([WAD // 2, -(4 * WAD // 10)], [10**30, 10**30], sender=governance)
    with ape.reverts(vault.AssetCountMismatch, given=1, expected=2):
        vault.setAssetParams([WAD], [10**30], sender=governance)
    tx = vault.setAssetParams([WAD // 2, -(WAD // 2)], [10**30, 10**30], sender=governance)
    events = tx.decode_logs(vault.AssetParamsUpdated)
    assert [int(e.weight) for e in events] == [WAD // 2, -(WAD // 2)]
    assert int(vault.assetParams()[1].weight) == -(WAD // 2)


def test_module_must_match(env: Any) -> None:
    module = env.deploy_module(["ETH"])
    with ape.reverts(env.project.ScalingVault.ModuleMismatch, module=module.address):
        env.deploy_vault(module=module)


def test_setters_are_role_gated(env: Any, vault: Any, depositor: Any, governance: Any) -> None:
    p = params_tuple(default_params(env.decimals))
    with ape.reverts(vault.AccessControlUnauthorizedAccount, account=depositor.address, neededRole=vault.MANAGER_ROLE()):
        vault.setParams(p, sender=depositor)
    with ape.reverts(vault.AccessControlUnauthorizedAccount, account=depositor.address):
        vault.setAssetParams([WAD // 2, WAD // 2], [1, 1], sender=depositor)
    with ape.reverts(vault.AccessControlUnauthorizedAccount, account=depositor.address):
        vault.setForwarder(depositor, sender=depositor)
    with ape.reverts(vault.AccessControlUnauthorizedAccount, account=depositor.address, neededRole=vault.GUARDIAN_ROLE()):
        vault.pause(sender=depositor)


def test_set_params_emits_and_stores(env: Any, vault: Any, governance: Any) -> None:
    p = default_params(env.decimals, targetLeverage=19 * WAD // 10, tolerance=WAD // 10)
    tx = vault.setParams(params_tuple(p), sender=governance)
    assert len(tx.decode_logs(vault.ParamsUpdated)) == 1
    assert params_dict(vault.params()) == p
    tx = vault.setForwarder(env.keeper, sender=governance)
    assert vault.forwarder() == env.keeper.address
    assert tx.decode_logs(vault.ForwarderUpdated)[0].forwarder == env.keeper.address


def test_views_report_config(env: Any, vault: Any, vault_module: Any) -> None:
    assert [int(i) for i in vault.assetIds()] == [env.asset_id("ETH"), env.asset_id("BTC")]
    assert vault.venue() == env.market.address
    assert vault.module() == vault_module.address
    assert vault.asset() == env.token.address
    assert int(vault.decimals()) == env.decimals + 6
