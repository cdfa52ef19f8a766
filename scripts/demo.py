"""The main job: deploy everything on a local chain that ape starts itself, fund LPs and depositors, start the
keeper and drive a scripted market through rally, chop, a -35% flash crash, an oracle outage and recovery.

    make demo        (= ape run demo --network ethereum:local:foundry)
"""

from __future__ import annotations

import time
from pathlib import Path

import click
from ape import accounts, chain, project
from ape.cli import ConnectedProviderCommand

from keeper.chain.deployer import deploy_stack
from keeper.deploy_config import load_deploy_config
from keeper.chain.live import run_scenario


@click.command(cls=ConnectedProviderCommand, short_help="Deploy and run the keeper through a scripted market")
@click.option("--plot", default="reports/demo.png", show_default=True)
def cli(ecosystem, network, provider, plot):  # type: ignore[no-untyped-def]
    if network.name != "local":
        raise click.UsageError("--network: the demo runs on a local chain only (ethereum:local:foundry)")
    started = time.monotonic()
    cfg = load_deploy_config("config/deploy/local.yaml", local=True)
    deployment = deploy_stack(
        project, chain, accounts.test_accounts[0], cfg, network=f"{ecosystem.name}:{network.name}",
        keeper=accounts.test_accounts[1].address,
    )
    path = deployment.write()
    click.echo(f"deployed: market {deployment.market}, vault {deployment.vaults[0]['address']}, lens {deployment.lens} ({path})")
    code = run_scenario(project, chain, accounts, "demo", deployment, keeper=True, plot=plot, workdir=Path("reports") / "demo")
    click.echo(f"demo finished in {time.monotonic() - started:.0f} s")
    raise SystemExit(code)
