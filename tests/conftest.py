"""Shared fixtures: roles, and the market stack deployed with the project's own deployer.

The market suite runs with 6- and 18-decimal collateral (the `collateral_decimals` parameter).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from keeper.chain.deployer import Deployment, deploy_stack
from keeper.deploy_config import parse_deploy_config

WAD = 10**18

BASE_CONFIG: dict[str, Any] = {
    "seed_liquidity": "10000000",
    "insurance_seed": "100000",
    "assets": [
        {"symbol": "ETH", "initial_price": "2000", "feed_decimals": 8, "skew_scale": 1_000_000, "max_open_interest": 100_000},
        {"symbol": "BTC", "initial_price": "60000", "feed_decimals": 8, "skew_scale": 50_000, "max_open_interest": 5_000},
    ],
}


@pytest.fixture(scope="session")
def governance(accounts: Any) -> Any:
    return accounts[0]


@pytest.fixture(scope="session")
def trader(accounts: Any) -> Any:
    return accounts[1]


@pytest.fixture(scope="session")
def trader2(accounts: Any) -> Any:
    return accounts[2]


@pytest.fixture(scope="session")
def lp(accounts: Any) -> Any:
    return accounts[3]


@pytest.fixture(scope="session")
def liquidator(accounts: Any) -> Any:
    return accounts[4]


@pytest.fixture(scope="session")
def keeper_account(accounts: Any) -> Any:
    return accounts[5]


@pytest.fixture(scope="session")
def depositor(accounts: Any) -> Any:
    return accounts[6]


@pytest.fixture(scope="session")
def depositor2(accounts: Any) -> Any:
    return accounts[7]


@pytest.fixture(scope="session", params=[6, 18], ids=["usdc6", "dai18"])
def collateral_decimals(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture(scope="session")
def stack(project: Any, governance: Any, chain: Any, collateral_decimals: int) -> Deployment:
    cfg = parse_deploy_config({**BASE_CONFIG, "collateral_decimals": collateral_decimals}, local=True)
    return deploy_stack(project, chain, governance, cfg, network="test")


@pytest.fixture(scope="session")
def token(project: Any, stack: Deployment) -> Any:
    return project.MockERC20.at(stack.collateral)


@pytest.fixture(scope="session")
def oracle(project: Any, stack: Deployment) -> Any:
    return project.ChainlinkOracleAdapter.at(stack.oracle)


@pytest.fixture(scope="session")
def market(project: Any, stack: Deployment) -> Any:
    return project.PerpMarket.at(stack.market)


@pytest.fixture(scope="session")
def eth_feed(project: Any, stack: Deployment) -> Any:
    return project.MockAggregator.at(stack.assets["ETH"]["feed"])


@pytest.fixture(scope="session")
def btc_feed(project: Any, stack: Deployment) -> Any:
    return project.MockAggregator.at(stack.assets["BTC"]["feed"])


@pytest.fixture(scope="session")
def units(collateral_decimals: int) -> Any:
    """units(1.5) -> 1.5 collateral tokens in token units."""

    def convert(amount: float | int | str) -> int:
        return int(Decimal(str(amount)) * 10**collateral_decimals)

    return convert


@pytest.fixture(scope="session")
def fund(token: Any, market: Any, governance: Any) -> Any:
    """fund(account, amount_units): mint collateral and approve the market."""

    def do(account: Any, amount: int, spender: Any = None) -> None:
        token.mint(account, amount, sender=governance)
        token.approve(spender or market, 2**256 - 1, sender=account)

    return do
