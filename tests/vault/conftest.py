"""Fixtures of the ScalingVault suite, on top of tests/conftest.py (parametrized over 6- and 18-decimal
collateral). The default vault holds ETH (weight 0.6) and BTC (0.4), target 2x, band 1.7-2.3, ripcord 2.7x,
cap 3x; chain state is isolated per test by ape. Contracts are module-scoped: ape reverts each module's chain
state when it ends, which would remove session-scoped contracts first deployed inside a module.
"""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import VaultEnv


@pytest.fixture(scope="session")
def env(project: Any, chain: Any, stack: Any, governance: Any, keeper_account: Any) -> VaultEnv:
    return VaultEnv.from_stack(project, chain, stack, governance, keeper_account)


@pytest.fixture(autouse=True)
def _sync_prices(env: VaultEnv) -> None:
    env.sync_prices()


@pytest.fixture(scope="session")
def keeper(keeper_account: Any) -> Any:
    return keeper_account


@pytest.fixture(scope="session")
def guardian(governance: Any) -> Any:
    return governance


@pytest.fixture(scope="module")
def vault_module(env: VaultEnv) -> Any:
    return env.deploy_module(["ETH", "BTC"])


@pytest.fixture(scope="module")
def vault(env: VaultEnv, vault_module: Any) -> Any:
    return env.deploy_vault(module=vault_module)


@pytest.fixture(scope="module")
def lens(project: Any, governance: Any) -> Any:
    return project.VaultLens.deploy(sender=governance)


@pytest.fixture(scope="module")
def funded_vault(env: VaultEnv, vault_module: Any, depositor: Any) -> Any:
    """A second default vault with 100,000 tokens from `depositor`, levered to 2x."""
    v = env.deploy_vault(module=vault_module)
    env.deposit(v, depositor, env.units(100_000))
    env.rebalance_to_target(v)
    return v
