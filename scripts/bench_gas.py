"""Gas table from real receipts on a local chain: `make bench` runs it as `ape run bench_gas`.

Deploys a fresh stack with the project's deployer, performs each action once from a warm account (not the
first-ever write of a storage slot unless the action is an "open"), and prints gasUsed per action.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from ape import accounts, chain, project
from ape.cli import ConnectedProviderCommand

from keeper.chain.deployer import deploy_stack
from keeper.deploy_config import load_deploy_config

WAD = 10**18
MAX_UINT = 2**256 - 1


def market_cases(stack: Any) -> list[tuple[str, int]]:
    market = project.PerpMarket.at(stack.market)
    token = project.MockERC20.at(stack.collateral)
    feed = project.MockAggregator.at(stack.assets["ETH"]["feed"])
    gov, trader, victim, liquidator, lp = (accounts.test_accounts[i] for i in range(5))
    unit = 10 ** stack.collateral_decimals
    eth = stack.assets["ETH"]["id"]
    for who in (trader, victim, lp):
        token.mint(who, 10_000_000 * unit, sender=gov)
        token.approve(market, MAX_UINT, sender=who)
    rows: list[tuple[str, int]] = []

    def gas(label: str, receipt: Any) -> None:
        rows.append((label, int(receipt.gas_used)))

    def deadline() -> int:
        return int(chain.pending_timestamp) + 600

    def later() -> None:
        # A minute passes before each trade: funding accrues, as between real keeper actions.
        chain.mine(timestamp=int(chain.pending_timestamp) + 60)
        (_, answer, *_rest) = feed.latestRoundData()
        feed.setAnswer(answer, sender=gov)

    gas("market: deposit margin", market.depositMargin(100_000 * unit, sender=trader))
    gas("market: open position", market.modifyPosition(eth, 10 * WAD, MAX_UINT, deadline(), sender=trader))
    later()
    market.modifyPosition(eth, 1 * WAD, MAX_UINT, deadline(), sender=trader)  # first funding settlement (cold slot)
    later()
    gas("market: increase position", market.modifyPosition(eth, 5 * WAD, MAX_UINT, deadline(), sender=trader))
    later()
    gas("market: decrease position", market.modifyPosition(eth, -5 * WAD, 0, deadline(), sender=trader))
    later()
    gas("market: close position", market.modifyPosition(eth, -11 * WAD, 0, deadline(), sender=trader))
    gas("market: withdraw margin", market.withdrawMargin(1_000 * unit, sender=trader))

    market.depositMargin(10_000 * unit, sender=victim)
    market.modifyPosition(eth, 100 * WAD, MAX_UINT, deadline(), sender=victim)  # ~20x
    (_, answer, *_rest) = feed.latestRoundData()
    feed.setAnswer(answer * 96 // 100, sender=gov)
    gas("market: liquidate (1 position)", market.liquidate(victim, sender=liquidator))

    gas("LP: deposit liquidity", market.depositLiquidity(100_000 * unit, 0, sender=lp))
    shares = market.lpShares(lp)
    gas("LP: withdraw liquidity", market.withdrawLiquidity(shares // 2, 0, sender=lp))
    return rows


def vault_cases(stack: Any) -> list[tuple[str, int]]:
    """The vault scenarios of tests/vault/gas_cases.py (shared with the vault's gas regression tests)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from vault.gas_cases import ALL_CASES, lens_gas  # noqa: PLC0415 - tests/ is not a package on sys.path
    from vault.helpers import VaultEnv  # noqa: PLC0415

    gov, keeper, depositor, depositor2 = (accounts.test_accounts[i] for i in (0, 5, 6, 7))
    env = VaultEnv.from_stack(project, chain, stack, gov, keeper)
    rows = []
    for name, case in ALL_CASES.items():
        env.sync_prices()
        env.refresh_prices()
        rows.append((f"vault: {name.replace('_', ' ')}", int(case(env, depositor, depositor2))))
    env.refresh_prices()
    for count, gas in lens_gas(env, depositor, (1, 10, 100)).items():
        rows.append((f"lens: getVaults, {count} vault{'s' if count > 1 else ''} (eth_call gas)", int(gas)))
    return rows


def render(rows: list[tuple[str, int]]) -> str:
    lines = ["| action | gas used |", "| --- | ---: |"]
    lines += [f"| {label} | {g:,} |" for label, g in rows]
    return "\n".join(lines)


@click.command(cls=ConnectedProviderCommand, short_help="Gas per action from real receipts")
@click.option("--json-out", default="reports/gas.json", show_default=True)
def cli(ecosystem, network, provider, json_out):  # type: ignore[no-untyped-def]
    cfg = load_deploy_config("config/deploy/local.yaml", local=True)
    stack = deploy_stack(project, chain, accounts.test_accounts[0], cfg, network="bench", keeper=accounts.test_accounts[5].address)
    rows = market_cases(stack)
    rows += vault_cases(stack)
    click.echo(render(rows))
    out = Path(json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(rows), indent=2) + "\n")
