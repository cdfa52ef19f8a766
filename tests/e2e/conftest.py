"""Fixtures of the end-to-end scenarios (INVARIANTS.md): one local deployment from config/deploy/local.yaml
(6-decimal collateral, one ETH/BTC 2x vault), the real keeper started per test, and the scenario runner.

Roles (ape test accounts): 0 governance/deployer, 1 the keeper (KEEPER_ROLE from deploy_stack), 2 a second
keeper (granted in the two-keeper test), 3 a bystander without any role, 6-9 the runner's depositors. ape
reverts the chain after every test, so each test starts from the fresh deployment; each keeper gets its own
journal directory under the test's tmp_path.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import ape
import pytest

from keeper.chain.deployer import Deployment, deploy_stack, deploy_vaults
from keeper.chain.live import LiveKeeper, start_keeper, write_keeper_config
from keeper.chain.scenario_runner import ScenarioRunner
from keeper.deploy_config import parse_deploy_config

from .kit import local_raw


@pytest.fixture(scope="session")
def governance(accounts: Any) -> Any:
    return accounts[0]


@pytest.fixture(scope="session")
def keeper_signer(accounts: Any) -> Any:
    return accounts[1]


@pytest.fixture(scope="session")
def second_keeper(accounts: Any) -> Any:
    return accounts[2]


@pytest.fixture(scope="session")
def bystander(accounts: Any) -> Any:
    return accounts[3]


@pytest.fixture(scope="session")
def deployment(project: Any, chain: Any, governance: Any, keeper_signer: Any) -> Deployment:
    cfg = parse_deploy_config(local_raw(), local=True)
    return deploy_stack(project, chain, governance, cfg, network="e2e", keeper=keeper_signer.address)


@pytest.fixture
def add_vault(project: Any, governance: Any, keeper_signer: Any, deployment: Deployment) -> Callable[..., Deployment]:
    """add_vault(**overrides) -> a Deployment on the same market whose only vault is local.yaml's vault with
    `overrides` (deploy-config names, e.g. max_trade_notional=30000); cheaper than a second stack."""

    def make(**overrides: Any) -> Deployment:
        raw = local_raw()
        raw["vaults"] = [{**raw["vaults"][0], **overrides, "symbol": "svX"}]
        cfg = parse_deploy_config(raw, local=True)
        own = Deployment(**{**deployment.__dict__, "vaults": [], "assets": dict(deployment.assets)})
        own.deploy_block = int(ape.chain.blocks.head.number) + 1
        deploy_vaults(project, governance, cfg, own, keeper_signer.address)
        return own

    return make


@pytest.fixture
def vault(project: Any, deployment: Deployment) -> Any:
    return project.ScalingVault.at(deployment.vaults[0]["address"])


@pytest.fixture
def market(project: Any, deployment: Deployment) -> Any:
    return project.PerpMarket.at(deployment.market)


@pytest.fixture
def oracle(project: Any, deployment: Deployment) -> Any:
    return project.ChainlinkOracleAdapter.at(deployment.oracle)


@pytest.fixture
def token(project: Any, deployment: Deployment) -> Any:
    return project.MockERC20.at(deployment.collateral)


@pytest.fixture
def start_live(chain: Any, tmp_path: Path) -> Iterator[Callable[..., LiveKeeper]]:
    """start_live(deployment, name, key=None, keyfile=None, password=None, log=None) -> the real keeper (its own
    journal directory tmp_path/name); closed at the end of the test."""
    started: list[LiveKeeper] = []

    def start(
        deployment: Deployment,
        name: str,
        key: str | None = None,
        *,
        keyfile: Path | None = None,
        password: str | None = None,
        log: io.StringIO | None = None,
    ) -> LiveKeeper:
        path = write_keeper_config(deployment, str(chain.provider.uri), tmp_path / name, keyfile=keyfile)
        live = start_keeper(path, key, keyfile_password=password, log_stream=log)
        started.append(live)
        return live

    yield start
    for live in started:
        live.close()


@pytest.fixture
def make_runner(project: Any, chain: Any) -> Callable[..., ScenarioRunner]:
    """make_runner(deployment, **ScenarioRunner options) with ape's account manager; the status lines go to the
    captured stdout (shown when a test fails)."""

    def make(deployment: Deployment, **options: Any) -> ScenarioRunner:
        return ScenarioRunner(project, chain, ape.accounts, deployment, **options)

    return make
