"""Deploy the oracle adapter and the market (plus mocks on local chains) and write deployments/<network>.json.

    ape run deploy --network ethereum:local:foundry
    ape run deploy --network ethereum:sepolia:node --config config/deploy/sepolia.yaml --account deployer
"""

from __future__ import annotations

import click
import yaml
from ape import accounts, chain, project
from ape.cli import ConnectedProviderCommand

from keeper.chain.deployer import deploy_stack
from keeper.deploy_config import ConfigError, load_deploy_config


@click.command(cls=ConnectedProviderCommand, short_help="Deploy oracle adapter, market and (local) mocks")
@click.option("--config", "config_path", default=None, help="Deploy config YAML (default: config/deploy/local.yaml on local chains)")
@click.option("--account", "alias", default=None, help="ape account alias to deploy from (local chains: first test account)")
@click.option("--out", "out_dir", default="deployments", show_default=True, help="Directory for <network>.json")
def cli(ecosystem, network, provider, config_path, alias, out_dir):  # type: ignore[no-untyped-def]
    local = network.name == "local"
    if config_path is None:
        if not local:
            raise click.UsageError("--config: required on non-local networks (feed and collateral addresses)")
        config_path = "config/deploy/local.yaml"
    try:
        cfg = load_deploy_config(config_path, local=local)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if alias is None:
        if not local:
            raise click.UsageError("--account: required on non-local networks (an ape account alias)")
        deployer = accounts.test_accounts[0]
    else:
        try:
            deployer = accounts.load(alias)
        except Exception:
            raise click.ClickException(f"--account: no ape account named {alias!r} (see `ape accounts list`)") from None
    name = f"{ecosystem.name}:{network.name}"
    keeper = accounts.test_accounts[1].address if local else None
    deployment = deploy_stack(project, chain, deployer, cfg, network=name, keeper=keeper)
    path = deployment.write(out_dir)
    click.echo(f"market   {deployment.market}")
    click.echo(f"oracle   {deployment.oracle}")
    click.echo(f"token    {deployment.collateral} ({deployment.collateral_decimals} decimals)")
    for symbol, a in deployment.assets.items():
        click.echo(f"asset    {symbol:<5} id={a['id']} feed={a['feed']}")
    for v in deployment.vaults:
        click.echo(f"vault    {v['symbol']:<5} {v['address']} ({'+'.join(v['assets'])})")
    if deployment.lens:
        click.echo(f"lens     {deployment.lens}")
        click.echo(f"keeper   {deployment.keeper} has KEEPER_ROLE")
    click.echo(f"wrote    {path}")
    if deployment.vaults:
        keeper_cfg = path.with_name(path.stem + "-keeper.yaml")
        keeper_cfg.write_text(
            yaml.safe_dump(
                {
                    "rpc_url": str(provider.uri),
                    "chain_id": deployment.chain_id,
                    "vaults": [v["address"] for v in deployment.vaults],
                    "lens": deployment.lens,
                    "db": str(path.with_name(path.stem + "-keeper.sqlite")),
                    "strategy": {"name": "policy"},
                },
                sort_keys=False,
            )
        )
        click.echo(f"wrote    {keeper_cfg} (keeper run --config {keeper_cfg}; key of {deployment.keeper} in KEEPER_PRIVATE_KEY)")
