"""The main job on a local chain that ape starts itself: deploy, trade, crash, liquidate, print state.

    make demo        (= ape run demo --network ethereum:local:foundry)
"""

from __future__ import annotations

import click
from ape import accounts, chain, project
from ape.cli import ConnectedProviderCommand

from keeper.chain.deployer import deploy_stack
from keeper.deploy_config import load_deploy_config

WAD = 10**18
MAX_UINT = 2**256 - 1


def fmt(amount_wad: int, digits: int = 2) -> str:
    return f"{amount_wad / WAD:,.{digits}f}"


@click.command(cls=ConnectedProviderCommand, short_help="Deploy and drive the market on a local chain")
def cli(ecosystem, network, provider):  # type: ignore[no-untyped-def]
    if network.name != "local":
        raise click.UsageError("--network: the demo runs on a local chain only (ethereum:local:foundry)")
    cfg = load_deploy_config("config/deploy/local.yaml", local=True)
    gov, alice, bob, liquidator = (accounts.test_accounts[i] for i in range(4))
    stack = deploy_stack(project, chain, gov, cfg, network=f"{ecosystem.name}:{network.name}")
    path = stack.write()
    market = project.PerpMarket.at(stack.market)
    token = project.MockERC20.at(stack.collateral)
    feeds = {s: project.MockAggregator.at(a["feed"]) for s, a in stack.assets.items()}
    ids = {s: a["id"] for s, a in stack.assets.items()}
    unit = 10**stack.collateral_decimals
    scale = 10 ** (18 - stack.collateral_decimals)
    click.echo(f"deployed market {market.address} ({path})")

    def deadline() -> int:
        return int(chain.pending_timestamp) + 600

    def set_price(symbol: str, price: float) -> None:
        feeds[symbol].setAnswer(int(price * 1e8), sender=gov)

    def show(title: str) -> None:
        click.echo(f"\n== {title}")
        click.echo(f"{'account':<8} {'equity':>14} {'maint. req':>12} {'gross':>14} {'leverage':>9}")
        for name, who in (("alice", alice), ("bob", bob)):
            ok, (equity, gross, _initial, maintenance) = market.tryMarginState(who)
            lev = gross / equity if ok and equity > 0 else float("nan")
            click.echo(f"{name:<8} {fmt(equity):>14} {fmt(maintenance):>12} {fmt(gross):>14} {lev:>8.2f}x")
        click.echo(f"pool value {market.poolValue() / unit:,.2f}  insurance {market.insuranceFund() / unit:,.2f}  bad debt {market.totalBadDebt() / unit:,.2f}")

    for who in (alice, bob):
        token.mint(who, 1_000_000 * unit, sender=gov)
        token.approve(market, MAX_UINT, sender=who)
    market.depositMargin(100_000 * unit, sender=alice)
    market.depositMargin(20_000 * unit, sender=bob)
    market.modifyPosition(ids["ETH"], 50 * WAD, MAX_UINT, deadline(), sender=alice)
    market.modifyPosition(ids["BTC"], -1 * WAD, 0, deadline(), sender=alice)
    market.modifyPosition(ids["ETH"], 150 * WAD, MAX_UINT, deadline(), sender=bob)
    show("positions opened (alice: 50 ETH long + 1 BTC short, bob: 150 ETH long at ~15x)")

    chain.mine(timestamp=int(chain.pending_timestamp) + 8 * 3600)
    set_price("ETH", 2100)
    set_price("BTC", 61_000)
    show("8 hours later: ETH +5%, BTC +1.7% (funding accrued on the long skew)")

    set_price("ETH", 1900)
    set_price("BTC", 60_000)
    click.echo(f"\nETH drops to 1,900: bob liquidatable = {market.canLiquidate(bob)}")
    receipt = market.liquidate(bob, sender=liquidator)
    log = receipt.decode_logs(market.AccountLiquidated)[0]
    click.echo(f"liquidated bob: reward {log.reward / unit:,.2f} to the liquidator, {log.toPool / unit:,.2f} to the pool, gas {receipt.gas_used:,}")
    market.modifyPosition(ids["ETH"], -20 * WAD, 0, deadline(), sender=alice)
    show("after the liquidation and alice's partial take-profit")
    st = market.assetState(ids["ETH"])
    click.echo(f"\nETH open interest: long {fmt(st.longOpenInterest)} short {fmt(st.shortOpenInterest)}; funding index {st.fundingIndex / WAD:.6f}")
    held = token.balanceOf(market)
    click.echo(f"accounting: market holds {held / unit:,.2f} = collateral + pool + insurance (exact, scale {scale})")
