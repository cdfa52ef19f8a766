"""Runs the real keeper (`keeper run`'s assembly) inside a scenario: writes its config from a deployment, then
hands the scenario runner one `step(block)` per block."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

import yaml

from keeper.chain.deployer import Deployment
from keeper.chain.scenario_runner import ScenarioRunner, plot_summary, render_summary
from keeper.commands import assemble, load
from keeper.ops.logging import configure_logging
from keeper.runtime import Keeper, StepReport


def write_keeper_config(
    deployment: Deployment, rpc_url: str, directory: Path, *, strategy: str = "scaling", keyfile: Path | None = None
) -> Path:
    """The YAML a user would write for `keeper run` against this deployment.

    A local chain started by ape is new on every run, so the keeper's journal and state from an earlier run
    (same chain id, other history) are removed. `keyfile`: sign with this encrypted keystore (password from
    KEEPER_KEYFILE_PASSWORD) instead of KEEPER_PRIVATE_KEY.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("keeper.sqlite*"):
        old.unlink()
    cfg = {
        "rpc_url": rpc_url,
        "chain_id": deployment.chain_id,
        "vaults": [v["address"] for v in deployment.vaults],
        "lens": deployment.lens,
        "poll_interval_seconds": 1,
        "db": str(directory / "keeper.sqlite"),
        "log_format": "kv",
        "log_level": "warning",
        "executor": {"confirmations": 1, "stuck_blocks": 3},
        "metrics": {"enabled": False},
        "strategy": {"name": strategy, "params": {}},
        "planner": {"confirm_blocks": 1},
    }
    if keyfile is not None:
        cfg["keyfile"] = str(keyfile)
    path = directory / "keeper.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@dataclass
class LiveKeeper:
    step: Callable[[int], list[str]]
    close: Callable[[], None]
    address: str = ""  # the signer
    reports: list[StepReport] = field(default_factory=list)  # every Keeper.step report, in order
    keeper: Keeper | None = None


def start_keeper(
    config_path: Path,
    private_key: str | None = None,
    *,
    keyfile_password: str | None = None,
    log_stream: TextIO | None = None,
) -> LiveKeeper:
    """Assemble the keeper exactly as `keeper run --config config_path` does, with the key from the environment.

    Without `private_key` the signer is the config's `keyfile`, decrypted with `keyfile_password` (as
    KEEPER_KEYFILE_PASSWORD); a KEEPER_PRIVATE_KEY left in the environment is then ignored. `log_stream`: where
    the keeper's log lines go (default stderr).
    """
    env = dict(os.environ)
    if private_key is not None:
        os.environ["KEEPER_PRIVATE_KEY"] = private_key
        env["KEEPER_PRIVATE_KEY"] = private_key
    else:
        env.pop("KEEPER_PRIVATE_KEY", None)
    if keyfile_password is not None:
        env["KEEPER_KEYFILE_PASSWORD"] = keyfile_password
    cfg, core = load(str(config_path), env)
    configure_logging(cfg.log_format, cfg.log_level, stream=log_stream)
    built = assemble(cfg, core, serve_metrics=False)
    built.keeper.start()
    live = LiveKeeper(step=lambda block: [], close=built.close, keeper=built.keeper)
    if built.keeper.executor is not None:
        live.address = str(built.keeper.executor.address)

    def step(block: int) -> list[str]:
        report = built.keeper.step(block)
        live.reports.append(report)
        notes = [f"keeper {p.kind} ({p.reason.lower()})" for p in report.planned]
        notes += [f"keeper: {f}" for f in report.failures]
        if report.stale and not report.planned:
            notes.append("keeper: oracle stale, holding")
        return notes

    live.step = step
    return live


def run_scenario(
    project: Any,
    chain: Any,
    accounts: Any,
    name: str,
    deployment: Deployment,
    *,
    keeper: bool,
    plot: str | None,
    workdir: Path,
    echo: Callable[[str], None] = print,
    stop_keeper_after: int | None = None,
    ripcord_bot: bool = False,
) -> int:
    """Play scenario `name` on `deployment`, with the live keeper when `keeper` (stopped after step
    `stop_keeper_after` if given) and, with `ripcord_bot`, a third party (test account 9) that pulls the ripcord
    whenever the vault says RIPCORD; 0 when the vault survived."""
    from keeper.scenarios import get_scenario

    scenario = get_scenario(name)
    live = None
    if keeper:
        cfg_path = write_keeper_config(deployment, str(chain.provider.uri), workdir)
        live = start_keeper(cfg_path, str(accounts.test_accounts[1].private_key))
        echo(f"keeper: same code as `keeper run --config {cfg_path}`")
    try:
        runner = ScenarioRunner(
            project, chain, accounts, deployment, keeper_step=live.step if live else None,
            keeper_addresses=[live.address] if live else (),
            stop_keeper_after=stop_keeper_after,
            ripcord_caller=accounts.test_accounts[9] if ripcord_bot else None,
        )
        summary = runner.run(scenario)
    finally:
        if live is not None:
            live.close()
    echo(render_summary(summary))
    if plot:
        Path(plot).parent.mkdir(parents=True, exist_ok=True)
        plot_summary(summary, plot)
        echo(f"chart: {plot}")
    return 0 if summary.liquidations == 0 else 1
