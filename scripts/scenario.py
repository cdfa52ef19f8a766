"""Play a scripted market scenario against a deployment, with the keeper running (or not).

    ape run scenario demo --network ethereum:local:foundry
    ape run scenario crash --no-keeper --network ethereum:local:foundry --plot reports/crash.png

On a local chain without a deployment file the stack is deployed first. The keeper is the same code as
`keeper run` (config written to reports/<name>/keeper.yaml, key of the local KEEPER_ROLE account).
"""

from __future__ import annotations

from pathlib import Path

import click
from ape import accounts, chain, project
from ape.cli import ConnectedProviderCommand

from keeper.chain.deployer import Deployment, deploy_stack
from keeper.chain.live import run_scenario
from keeper.deploy_config import ConfigError, load_deploy_config
from keeper.scenarios import SCENARIOS, ScenarioError


@click.command(cls=ConnectedProviderCommand, short_help="Play a scripted market scenario")
@click.argument("name", type=click.Choice(sorted(SCENARIOS)))
@click.option("--deployment", "deployment_path", default=None, help="deployments/<network>.json (local: deploy if absent)")
@click.option("--no-keeper", is_flag=True, help="Do not run the keeper (third parties may still pull the ripcord)")
@click.option("--plot", default=None, help="Write a PNG chart here")
@click.option("--stop-keeper-after", type=click.IntRange(min=0), default=None, help="Stop the keeper after step K")
@click.option("--ripcord-bot", is_flag=True, help="A third party pulls the ripcord whenever the vault says RIPCORD")
def cli(ecosystem, network, provider, name, deployment_path, no_keeper, plot, stop_keeper_after, ripcord_bot):  # type: ignore[no-untyped-def]
    local = network.name == "local"
    if not local:
        raise click.UsageError("--network: scenarios move mock feeds and chain time: local chains only")
    try:
        if deployment_path and Path(deployment_path).is_file():
            deployment = Deployment.read(deployment_path)
        else:
            cfg = load_deploy_config("config/deploy/local.yaml", local=True)
            deployment = deploy_stack(
                project, chain, accounts.test_accounts[0], cfg, network=f"{ecosystem.name}:{network.name}",
                keeper=accounts.test_accounts[1].address,
            )
        code = run_scenario(
            project, chain, accounts, name, deployment, keeper=not no_keeper, plot=plot, workdir=Path("reports") / name,
            stop_keeper_after=stop_keeper_after, ripcord_bot=ripcord_bot,
        )
    except (ConfigError, ScenarioError) as exc:
        raise click.ClickException(str(exc)) from None
    raise SystemExit(code)
