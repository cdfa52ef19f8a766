"""ERC-4626 properties with open positions: previews vs actions (rounded against the caller), max* never revert,
no free round trips, allowances, the inflation attack, fair exits and the stale-price behaviour."""

from typing import Any

import ape

from .helpers import WAD


def _close(a: int, b: int) -> bool:
    """Equal up to one second of funding accrual: previews are read one block before the transaction."""
    return abs(a - b) <= max(a, b) // 10**8 + 1


def test_preview_deposit_and_mint_match_actions(env: Any, funded_vault: Any, depositor2: Any) -> None:
    v = funded_vault
    env.fund(depositor2, env.units(50_000), v)
    expected = int(v.previewDeposit(env.units(10_000)))
    tx = v.deposit(env.units(10_000), depositor2, sender=depositor2)
    assert _close(int(tx.decode_logs(v.Deposit)[0].shares), expected)
    shares = expected // 3
    assets = int(v.previewMint(shares))
    assert int(v.previewDeposit(assets)) >= shares  # minting costs at least what depositing would
    tx = v.mint(shares, depositor2, sender=depositor2)
    assert _close(int(tx.decode_logs(v.Deposit)[0].assets), assets)


def test_preview_redeem_is_a_lower_bound(env: Any, funded_vault: Any, depositor: Any) -> None:
    v = funded_vault
    shares = int(v.balanceOf(depositor)) // 3
    preview = int(v.previewRedeem(shares))
    tx = v.redeem(shares, depositor, depositor, sender=depositor)
    got = int(tx.decode_logs(v.Withdraw)[0].assets)
    assert preview <= got
    assert got - preview <= got // 1000  # the cost bound is tight (fees + impact), not a blanket haircut
    assert got < int(v.convertToAssets(shares)) + 1  # the exiter paid its closing cost


def test_preview_withdraw_is_an_upper_bound(env: Any, funded_vault: Any, depositor: Any) -> None:
    v = funded_vault
    assets = env.units(20_000)
    bound = int(v.previewWithdraw(assets))
    before = env.token.balanceOf(depositor)
    tx = v.withdraw(assets, depositor, depositor, sender=depositor)
    burned = int(tx.decode_logs(v.Withdraw)[0].shares)
    assert burned <= bound
    assert env.token.balanceOf(depositor) - before == assets
    assert int(v.previewRedeem(burned)) <= assets


def test_max_functions_match_actions(env: Any, funded_vault: Any, depositor: Any) -> None:
    v = funded_vault
    assert int(v.maxRedeem(depositor)) == int(v.balanceOf(depositor))
    m = int(v.maxWithdraw(depositor))
    assert m > 0 and int(v.previewWithdraw(m)) <= int(v.balanceOf(depositor))
    # the transaction runs a block later (one second of funding), hence the tiny margin
    v.withdraw(m - m // 10**6, depositor, depositor, sender=depositor)
    v.redeem(int(v.balanceOf(depositor)), depositor, depositor, sender=depositor)
    assert int(v.totalSupply()) == 0
    assert int(v.accountView().grossNotional) == 0  # the last exit closed everything


def test_no_free_round_trip(env: Any, funded_vault: Any, depositor2: Any) -> None:
    v = funded_vault
    amount = env.units(25_000)
    env.fund(depositor2, amount, v)
    shares = int(v.deposit(amount, depositor2, sender=depositor2).decode_logs(v.Deposit)[0].shares)
    v.redeem(shares, depositor2, depositor2, sender=depositor2)
    assert int(env.token.balanceOf(depositor2)) <= amount


def test_third_party_exits_need_allowance(env: Any, funded_vault: Any, depositor: Any, depositor2: Any) -> None:
    v = funded_vault
    with ape.reverts(v.ERC20InsufficientAllowance, spender=depositor2.address):
        v.redeem(1000, depositor2, depositor, sender=depositor2)
    with ape.reverts(v.ERC20InsufficientAllowance, spender=depositor2.address):
        v.withdraw(env.units(1), depositor2, depositor, sender=depositor2)
    v.approve(depositor2, 10**40, sender=depositor)
    v.redeem(10**15, depositor2, depositor, sender=depositor2)
    assert int(v.allowance(depositor, depositor2)) == 10**40 - 10**15


def test_exit_keeps_other_holders_leverage_and_value(env: Any, funded_vault: Any, depositor: Any, depositor2: Any) -> None:
    v = funded_vault
    env.deposit(v, depositor2, env.units(50_000))
    env.warp(300)
    env.rebalance_to_target(v)  # the new deposit levered up
    lev = env.leverage(v)
    ta0, s0 = int(v.totalAssets()), int(v.totalSupply())
    shares = int(v.balanceOf(depositor2))
    tx = v.redeem(shares, depositor2, depositor2, sender=depositor2)
    cost = int(tx.decode_logs(v.ExitPositionsClosed)[0].costWad)
    assert cost > 0  # fees and impact of closing a third of the positions
    assert abs(env.leverage(v) - lev) <= lev // 10**6 + 10
    # the staying holders keep their pro-rata totalAssets (VLT-2): the exiter bore its costs
    ta1, s1 = int(v.totalAssets()), int(v.totalSupply())
    slack = ta0 // 10**8 + 2  # ta0 was read a block earlier: one second of funding accrual
    assert ta1 + slack >= (ta0 + 1) * (s1 + 10**6) // (s0 + 10**6)


def test_inflation_attack_victim_keeps_value(env: Any, vault: Any, depositor: Any, depositor2: Any) -> None:
    v = vault
    env.deposit(v, depositor, 1)  # attacker: 1 wei
    env.token.mint(depositor, env.units(100_000), sender=env.governance)
    env.token.transfer(v, env.units(100_000), sender=depositor)  # donation
    victim = env.units(100_000)
    env.deposit(v, depositor2, victim)
    out = int(v.previewRedeem(v.balanceOf(depositor2)))
    assert out * 1000 > victim * 999


def test_stale_price_behaviour(env: Any, funded_vault: Any, depositor: Any, depositor2: Any) -> None:
    v = funded_vault
    last_good = int(v.totalAssets())
    env.warp(3_700, refresh=False)
    # views never revert
    assert int(v.totalAssets()) == int(v.vaultState().lastEquity) + int(env.token.balanceOf(v))
    assert abs(int(v.totalAssets()) - last_good) <= last_good // 100
    assert int(v.maxDeposit(depositor)) == 0
    assert int(v.maxMint(depositor)) == 0
    assert int(v.maxWithdraw(depositor)) == 0
    assert int(v.maxRedeem(depositor)) == 0
    assert not v.accountView().pricesOk
    eth = env.asset_id("ETH")
    with ape.reverts(v.PriceUnavailable, assetId=eth, status=5):
        v.previewRedeem(10**6)
    with ape.reverts(v.PriceUnavailable, assetId=eth, status=5):
        v.redeem(10**6, depositor, depositor, sender=depositor)
    env.fund(depositor2, env.units(10), v)
    with ape.reverts(v.PriceUnavailable, assetId=eth, status=5):
        v.deposit(env.units(10), depositor2, sender=depositor2)
    env.refresh_prices()
    v.redeem(10**6, depositor, depositor, sender=depositor)


def test_exits_without_positions_need_no_price(env: Any, vault: Any, depositor: Any) -> None:
    env.deposit(vault, depositor, env.units(1_000))
    env.warp(3_700, refresh=False)
    assert int(vault.maxRedeem(depositor)) == int(vault.balanceOf(depositor))
    vault.redeem(vault.balanceOf(depositor), depositor, depositor, sender=depositor)
    assert int(env.token.balanceOf(depositor)) >= env.units(1_000) - 1


def test_insolvent_vault_refuses_deposits(env: Any, funded_vault: Any, depositor2: Any) -> None:
    v = funded_vault
    env.scale_prices(45)  # -55% at 2x: equity < 0
    assert int(v.accountView().equity) < 0
    assert int(v.maxDeposit(depositor2)) == 0
    env.fund(depositor2, env.units(10), v)
    with ape.reverts(v.VaultInsolvent):
        v.deposit(env.units(10), depositor2, sender=depositor2)


def test_deposit_goes_to_margin_and_lowers_leverage(env: Any, funded_vault: Any, depositor2: Any) -> None:
    v = funded_vault
    collateral = int(env.market.collateralOf(v))
    lev = env.leverage(v)
    env.deposit(v, depositor2, env.units(100_000))
    assert int(env.market.collateralOf(v)) == collateral + env.units(100_000)
    assert int(env.token.balanceOf(v)) == 0
    assert abs(env.leverage(v) - lev // 2) < lev // 100
    assert env.plan(v)[:2] == ("NONE", "CHUNK_COOLDOWN")  # the initial rebalance was just now
    env.warp(300)
    assert env.plan(v)[:2] == ("REBALANCE", "BELOW_MIN")
