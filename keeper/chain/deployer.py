"""Deploys the oracle adapter, the market and (on local chains) the mocks; writes deployments/<network>.json."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from keeper.deploy_config import DeployConfig, oracle_key

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@dataclass
class Deployment:
    network: str
    chain_id: int
    deploy_block: int
    collateral: str
    collateral_decimals: int
    oracle: str
    market: str
    assets: dict[str, dict[str, Any]] = field(default_factory=dict)  # symbol -> {id, feed, oracle_key}
    mocks: bool = False
    vaults: list[dict[str, Any]] = field(default_factory=list)  # {address, name, symbol, assets, module}
    lens: str | None = None
    keeper: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def write(self, directory: str | Path = "deployments") -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{self.network.replace(':', '-')}.json"
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def read(cls, path: str | Path) -> "Deployment":
        return cls(**json.loads(Path(path).read_text()))


def to_units(amount: Decimal, decimals: int) -> int:
    return int(amount * (10**decimals))


def deploy_vaults(project: Any, deployer: Any, cfg: DeployConfig, deployment: Deployment, keeper: str) -> None:
    """Deploy every vault of `cfg` (one shared module per asset list), grant KEEPER_ROLE, deploy the lens."""
    tx = {"sender": deployer}
    modules: dict[tuple[int, ...], Any] = {}
    for spec in cfg.vaults:
        ids = tuple(int(deployment.assets[sym]["id"]) for sym, _ in spec.weights)
        if ids not in modules:
            modules[ids] = project.ScalingVaultPerpModule.deploy(deployment.market, list(ids), **tx)
        caps = dict(spec.notional_caps)
        assets = [(deployment.assets[sym]["id"], w, caps[sym]) for sym, w in spec.weights]
        vault = project.ScalingVault.deploy(
            deployment.market, spec.name, spec.symbol, deployer.address, assets, spec.params_tuple(), modules[ids], **tx
        )
        vault.grantRole(vault.KEEPER_ROLE(), keeper, **tx)
        deployment.vaults.append(
            {
                "address": vault.address,
                "name": spec.name,
                "symbol": spec.symbol,
                "assets": [sym for sym, _ in spec.weights],
                "module": modules[ids].address,
            }
        )
    deployment.lens = project.VaultLens.deploy(**tx).address
    deployment.keeper = keeper


def deploy_stack(project: Any, chain: Any, deployer: Any, cfg: DeployConfig, *, network: str, keeper: str | None = None) -> Deployment:
    """Deploy everything `cfg` describes from `deployer` (an ape account); mocks where cfg has no addresses."""
    tx = {"sender": deployer}
    deploy_block = int(chain.blocks.head.number) + 1
    if cfg.collateral is None:
        token = project.MockERC20.deploy("Mock USD", "mUSD", cfg.collateral_decimals, **tx)
    else:
        token = project.MockERC20.at(cfg.collateral)  # any ERC-20: only the ERC-20 ABI is used
    decimals = int(token.decimals())

    oracle = project.ChainlinkOracleAdapter.deploy(
        deployer.address, cfg.sequencer_feed or ZERO_ADDRESS, cfg.sequencer_grace_period, **tx
    )
    market = project.PerpMarket.deploy(token.address, oracle.address, deployer.address, cfg.risk.as_tuple(), **tx)

    assets: dict[str, dict[str, Any]] = {}
    for spec in cfg.assets:
        feed_address = spec.feed
        if feed_address is None:
            answer = int(spec.initial_price * (10**spec.feed_decimals))
            feed = project.MockAggregator.deploy(spec.feed_decimals, f"{spec.symbol} / USD", answer, **tx)
            feed_address = feed.address
        oracle.setFeed(oracle_key(spec.symbol), feed_address, spec.max_age, **tx)
        receipt = market.listAsset(spec.market_config(), **tx)
        asset_id = int(receipt.decode_logs(market.AssetListed)[0].assetId)
        assets[spec.symbol] = {"id": asset_id, "feed": feed_address, "oracle_key": "0x" + oracle_key(spec.symbol).hex()}

    if cfg.collateral is None:
        seed = to_units(cfg.seed_liquidity, decimals)
        insurance = to_units(cfg.insurance_seed, decimals)
        if seed + insurance > 0:
            token.mint(deployer.address, seed + insurance, **tx)
            token.approve(market.address, seed + insurance, **tx)
        if seed > 0:
            market.depositLiquidity(seed, 0, **tx)
        if insurance > 0:
            market.fundInsurance(insurance, **tx)

    deployment = Deployment(
        network=network,
        chain_id=int(chain.chain_id),
        deploy_block=deploy_block,
        collateral=token.address,
        collateral_decimals=decimals,
        oracle=oracle.address,
        market=market.address,
        assets=assets,
        mocks=cfg.uses_mocks,
        config=cfg.describe(),
    )
    if cfg.vaults:
        keeper_address = cfg.keeper or keeper
        if keeper_address is None:
            raise ValueError("keeper: no keeper address to grant KEEPER_ROLE to")
        deploy_vaults(project, deployer, cfg, deployment, keeper_address)
    return deployment
