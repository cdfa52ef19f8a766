"""A testnet-shaped deployment on Anvil: the collateral token and the price feeds exist before the deployment (as
on a testnet, where they are someone else's contracts), the deploy config names their addresses and the keeper's
address and is validated with local=False, and the keeper signs with an encrypted keystore file (the format ape
writes) unlocked by KEEPER_KEYFILE_PASSWORD. INVARIANTS.md E2E-12.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from eth_account import Account

from keeper.chain.deployer import deploy_stack
from keeper.deploy_config import ConfigError, load_deploy_config, parse_deploy_config

from .kit import WAD, local_raw

PASSWORD = "correct horse battery staple"


@pytest.fixture
def external(project: Any, accounts: Any) -> dict[str, Any]:
    """'Existing' contracts: a 6-decimal token and two 8-decimal Chainlink-style feeds, deployed by someone else."""
    outsider = accounts[5]
    return {
        "token": project.MockERC20.deploy("USD Coin (testnet)", "USDC", 6, sender=outsider),
        "ETH": project.MockAggregator.deploy(8, "ETH / USD", 2000 * 10**8, sender=outsider),
        "BTC": project.MockAggregator.deploy(8, "BTC / USD", 60_000 * 10**8, sender=outsider),
    }


def test_testnet_shaped_deployment_with_a_keyfile_keeper(
    project: Any, chain: Any, accounts: Any, governance: Any, external: Any, tmp_path: Any, start_live: Any
) -> None:
    # the keeper's own key, kept only as an encrypted keystore file; the account is funded for gas
    signer = Account.create()
    keyfile = tmp_path / "keeper-key.json"
    keyfile.write_text(json.dumps(Account.encrypt(signer.key, PASSWORD)))
    governance.transfer(signer.address, 10**18)

    raw = local_raw()
    raw["collateral"] = external["token"].address
    for asset in raw["assets"]:
        asset["feed"] = external[asset["symbol"]].address
        asset.pop("initial_price")
    raw["keeper"] = signer.address
    for field in ("seed_liquidity", "insurance_seed"):
        raw.pop(field)  # only used with mocks: nothing is minted on a real network
    path = tmp_path / "testnet.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    # without the keeper address (or a feed) the non-local parse refuses, naming the field
    with pytest.raises(ConfigError, match="^keeper: required on non-local networks"):
        parse_deploy_config({k: v for k, v in raw.items() if k != "keeper"}, local=False)
    with pytest.raises(ConfigError, match=r"^assets\[0\]\.feed: required on non-local networks"):
        parse_deploy_config({**raw, "assets": [{**raw["assets"][0], "feed": None}, raw["assets"][1]]}, local=False)
    cfg = load_deploy_config(path, local=False)
    assert not cfg.uses_mocks

    deployment = deploy_stack(project, chain, governance, cfg, network="ethereum:testnet-like")
    assert deployment.collateral == external["token"].address and deployment.collateral_decimals == 6
    assert {s: a["feed"] for s, a in deployment.assets.items()} == {s: external[s].address for s in ("ETH", "BTC")}
    assert deployment.mocks is False and deployment.keeper == signer.address
    vault = project.ScalingVault.at(deployment.vaults[0]["address"])
    market = project.PerpMarket.at(deployment.market)
    assert vault.hasRole(vault.KEEPER_ROLE(), signer.address)
    assert not vault.hasRole(vault.KEEPER_ROLE(), accounts[1])  # the local default keeper got nothing

    # the market has no liquidity until an LP brings some; then a depositor enters the vault
    token = external["token"]
    lp, depositor = accounts[3], accounts[6]
    for who, amount, spender in ((lp, 2_000_000, market), (depositor, 50_000, vault)):
        token.mint(who, amount * 10**6, sender=who)  # the testnet token's faucet
        token.approve(spender, 2**256 - 1, sender=who)
    market.depositLiquidity(2_000_000 * 10**6, 0, sender=lp)
    vault.deposit(50_000 * 10**6, depositor, sender=depositor)

    live = start_live(deployment, "keeper", None, keyfile=keyfile, password=PASSWORD)
    assert live.address == signer.address, "E2E-12 the keeper signs with the keyfile's key"
    for _ in range(3):
        chain.mine()
        live.step(int(chain.blocks.head.number))

    landed = [h for r in live.reports for h in r.submitted]
    assert len(landed) == 1 and landed[0].kind == "rebalance", landed
    receipt = chain.provider.web3.eth.get_transaction_receipt(landed[0].tx_hash)
    assert int(receipt["status"]) == 1 and receipt["from"] == signer.address, "E2E-12 the rebalance landed"
    (event,) = vault.Rebalanced.range(int(receipt["blockNumber"]), int(receipt["blockNumber"]) + 1)
    assert event.keeper == signer.address and int(event.leverageBefore) == 0
    lev = int(vault.accountView().leverage)
    assert abs(lev - int(vault.params().targetLeverage)) <= int(vault.params().tolerance), lev / WAD
    final = live.keeper.executor.handle(landed[0].intent_id)
    assert final.status.value == "confirmed", final
