"""Keeper views (shouldRebalance reasons) and the lens, including stale prices."""

from typing import Any

from .helpers import WAD


def test_reasons_across_states(env: Any, vault: Any, depositor: Any) -> None:
    assert env.plan(vault)[:2] == ("NONE", "EMPTY")
    env.deposit(vault, depositor, env.units(10_000))
    action, reason, sizes = env.plan(vault)
    assert (action, reason) == ("REBALANCE", "BELOW_MIN") and all(s > 0 for s in sizes)
    env.rebalance_to_target(vault)
    assert env.plan(vault)[:2] == ("NONE", "WITHIN_BAND")
    env.scale_prices(95)
    assert env.plan(vault)[:2] == ("NONE", "WITHIN_BAND")  # off target but the interval has not elapsed
    env.warp(86_400)
    assert env.plan(vault)[:2] == ("REBALANCE", "RECENTER")
    env.scale_prices(90)
    assert env.plan(vault)[:2] == ("REBALANCE", "ABOVE_MAX")
    env.warp(3_700, refresh=False)
    assert env.plan(vault)[:2] == ("NONE", "PRICE_UNAVAILABLE")


def test_lens_reports_everything_and_survives_stale_prices(env: Any, funded_vault: Any, vault: Any, lens: Any, depositor: Any) -> None:
    views = lens.getVaults([funded_vault, vault, depositor])
    fv, empty, bogus = views
    assert fv.ok and empty.ok and not bogus.ok
    assert fv.account.pricesOk
    assert abs(int(fv.account.leverage) - 2 * WAD) < WAD // 50
    assert int(fv.marginRatio) > 10 * WAD  # equity / maintenance at 2x with 2% maintenance ~ 25
    assert 0 < int(fv.liquidationDistance) < WAD
    assert len(fv.positions) == 2 and int(fv.positions[0].size) > 0 and int(fv.positions[0].openNotional) > 0
    assert int(fv.params.targetLeverage) == 2 * WAD
    assert int(fv.state.lastRebalanceAt) > 0
    assert int(fv.action) == 0 and int(fv.reason) == 1
    env.warp(3_700, refresh=False)
    fv = lens.getVault(funded_vault)
    assert fv.ok and not fv.account.pricesOk
    assert [int(p.priceStatus) for p in fv.positions] == [5, 5]
    assert int(fv.reason) == 2  # PRICE_UNAVAILABLE
    assert int(fv.totalAssets) > 0


def test_broken_feed_never_breaks_views(env: Any, funded_vault: Any, lens: Any, depositor: Any) -> None:
    """A reverting aggregator (removed / paused feed): every view still answers."""
    v = funded_vault
    env.feeds["BTC"].setRevert(True, sender=env.governance)
    assert env.plan(v)[:2] == ("NONE", "PRICE_UNAVAILABLE")
    needed, _ = v.checkUpkeep(b"")
    assert not needed
    assert int(v.totalAssets()) > 0
    assert int(v.maxWithdraw(depositor)) == 0 and int(v.maxRedeem(depositor)) == 0
    view = lens.getVault(v)
    assert view.ok and not view.account.pricesOk
    assert int(view.positions[1].priceStatus) != 0 and int(view.positions[0].priceStatus) == 0
