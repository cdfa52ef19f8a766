"""Ripcord: trigger conditions, cooldown, reward that never reverts, delevering size, crash rescue."""

from typing import Any

import ape

from .helpers import WAD, default_params, params_tuple


def test_not_triggered(env: Any, funded_vault: Any, liquidator: Any) -> None:
    v = funded_vault
    # The leverage argument is the one of the ripcord's own block: funding accrues in the second between a
    # view and the next block, so only the bound is compared exactly.
    assert env.leverage(v) < 27 * WAD // 10
    with ape.reverts(v.RipcordNotTriggered, ripcordLeverage=27 * WAD // 10):
        v.ripcord(sender=liquidator)


def test_ripcord_delevers_and_pays_reward(env: Any, funded_vault: Any, liquidator: Any) -> None:
    v = funded_vault
    env.warp(120)
    env.scale_prices(76)  # 2x -> ~2.8x
    lev = env.leverage(v)
    assert 27 * WAD // 10 <= lev <= 3 * WAD
    assert env.plan(v)[:2] == ("RIPCORD", "RIPCORD_LEVERAGE")
    before = int(env.token.balanceOf(liquidator))
    tx = v.ripcord(sender=liquidator)
    ev = tx.decode_logs(v.Ripcord)[0]
    assert int(ev.reward) == env.units(10)
    assert int(env.token.balanceOf(liquidator)) - before == env.units(10)
    # cut min(ripcordMaxTradeNotional, down to maxLeverage): here down to ~2.3x
    assert env.leverage(v) < lev
    assert env.leverage(v) <= 23 * WAD // 10 + WAD // 50
    assert int(ev.leverageAfter) >= env.leverage(v) - WAD // 1000


def test_ripcord_cooldown(env: Any, funded_vault: Any, liquidator: Any, governance: Any) -> None:
    v = funded_vault
    p = default_params(env.decimals, ripcordMaxTradeNotional=500_000 * WAD, maxTradeNotional=5_000 * WAD)
    p["ripcordMaxTradeNotional"] = 10_000 * WAD  # small cut: stays above the ripcord level
    v.setParams(params_tuple(p), sender=governance)
    env.warp(120)
    env.scale_prices(76)
    v.ripcord(sender=liquidator)
    assert env.leverage(v) >= 27 * WAD // 10
    last = int(v.vaultState().lastRipcordAt)
    assert env.plan(v)[:2] == ("NONE", "RIPCORD_COOLDOWN")
    with ape.reverts(v.RipcordCooldownNotElapsed, lastTradeAt=last, cooldown=60):
        v.ripcord(sender=liquidator)
    env.warp(60)
    v.ripcord(sender=liquidator)


def test_reward_capped_never_reverts(env: Any, funded_vault: Any, liquidator: Any, governance: Any) -> None:
    v = funded_vault
    v.setParams(params_tuple(default_params(env.decimals, ripcordReward=2**96 - 1)), sender=governance)
    env.warp(120)
    env.scale_prices(76)
    tx = v.ripcord(sender=liquidator)  # the margin withdrawal for the reward fails: paid what is idle (0)
    assert int(tx.decode_logs(v.Ripcord)[0].reward) == 0
    assert env.leverage(v) < 27 * WAD // 10


def test_margin_buffer_trigger(env: Any, funded_vault: Any, liquidator: Any, governance: Any) -> None:
    v = funded_vault
    v.setParams(params_tuple(default_params(env.decimals, ripcordMarginBuffer=WAD)), sender=governance)
    eth = env.asset_id("ETH")
    cfg = list(env.market.assetConfig(eth))
    cfg[3], cfg[4] = WAD // 2, 45 * WAD // 100  # maintenance 45% of the ETH notional: 2 * 0.556 E > E
    env.market.setAssetConfig(eth, cfg, sender=governance)
    env.warp(120)
    a = v.accountView()
    assert int(a.leverage) < 27 * WAD // 10
    assert env.plan(v)[:2] == ("RIPCORD", "RIPCORD_MARGIN")
    v.ripcord(sender=liquidator)
    assert int(v.accountView().grossNotional) < int(a.grossNotional)


def test_above_cap_the_ripcord_cuts_in_one_go(env: Any, funded_vault: Any, liquidator: Any, governance: Any) -> None:
    v = funded_vault
    v.setParams(params_tuple(default_params(env.decimals, ripcordMaxTradeNotional=500_000 * WAD)), sender=governance)
    env.warp(120)
    env.scale_prices(68)  # 2x -> ~4.1x, above the 3x cap
    assert env.leverage(v) > 3 * WAD
    v.ripcord(sender=liquidator)
    assert env.leverage(v) <= 23 * WAD // 10 + WAD // 20


def test_ripcord_saves_the_vault_when_the_keeper_is_absent(env: Any, funded_vault: Any, liquidator: Any) -> None:
    """-5% every 2 minutes for an hour; only permissionless ripcords act. The market never liquidates."""
    v = funded_vault
    ripcords = 0
    for _ in range(20):
        env.warp(120)
        env.scale_prices(95)
        if env.plan(v)[0] == "RIPCORD":
            v.ripcord(sender=liquidator)
            ripcords += 1
        assert not env.market.canLiquidate(v)
        assert env.leverage(v) < 3 * WAD
    assert ripcords >= 3
    assert int(v.accountView().equity) > 0
