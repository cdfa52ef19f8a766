"""Keeper config: file + KEEPER_* overrides into frozen dataclasses; every error is one line naming the field."""

from __future__ import annotations

import dataclasses
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from eth_account import Account
from keeper_testkit import KEEPER_KEY

from keeper.config import ENV_VARS, ConfigError, KeeperConfig, env_name, load_config, parse_config
from keeper.executor.signer import load_signer

ROOT = Path(__file__).resolve().parents[2]
VAULT1 = "0x1111111111111111111111111111111111111111"
VAULT2 = "0x2222222222222222222222222222222222222222"
VAULT3 = "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd"
BASE: dict[str, Any] = {"rpc_url": "http://127.0.0.1:8545", "chain_id": 31337, "vaults": [VAULT1]}
ENV = {"KEEPER_PRIVATE_KEY": KEEPER_KEY}


def parse(raw: dict[str, Any], env: dict[str, str] | None = None) -> KeeperConfig:
    return parse_config(raw, ENV if env is None else env)


def test_minimal_file_gets_documented_defaults_and_is_frozen() -> None:
    cfg = parse(BASE)
    assert cfg.vaults == (VAULT1,) and cfg.executor.confirmations == 2 and cfg.executor.stuck_blocks == 3
    assert cfg.executor.max_fee_wei == 500 * 10**9 and cfg.breaker.failure_threshold == 3
    assert cfg.metrics.port == 9464 and cfg.db == Path("keeper.sqlite") and not cfg.dry_run
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.chain_id = 1  # type: ignore[misc]
    assert KEEPER_KEY[2:] not in repr(cfg) and cfg.describe()["signer"]["private_key"] == "<set>"


def test_environment_overrides_the_file() -> None:
    env = {
        **ENV,
        "KEEPER_RPC_URL": "https://rpc.example",
        "KEEPER_DB": "/var/lib/keeper/journal.sqlite",
        "KEEPER_METRICS_PORT": "9100",
        "KEEPER_EXECUTOR_MAX_FEE_GWEI": "250.5",
        "KEEPER_VAULTS": f"{VAULT1}, {VAULT2}",
        "KEEPER_DRY_RUN": "yes",
        "KEEPER_EXECUTOR_REWARD_PERCENTILES": "20,50,80",
    }
    cfg = parse({**BASE, "metrics": {"port": 9000}, "executor": {"max_fee_gwei": 100}}, env)
    assert cfg.rpc_url == "https://rpc.example" and cfg.db == Path("/var/lib/keeper/journal.sqlite")
    assert cfg.metrics.port == 9100 and cfg.executor.max_fee_gwei == Decimal("250.5")
    assert cfg.vaults == (VAULT1, VAULT2) and cfg.dry_run
    assert cfg.executor.reward_percentiles == (20.0, 50.0, 80.0)


def test_every_field_has_a_documented_environment_variable() -> None:
    doc = (ROOT / "docs" / "KEEPER_OPERATIONS.md").read_text()
    assert env_name("executor.max_fee_gwei") == "KEEPER_EXECUTOR_MAX_FEE_GWEI"
    missing = [v for v in ENV_VARS if v not in doc]
    assert missing == []


@pytest.mark.parametrize(
    ("raw", "env", "message"),
    [
        ({"executor": {"max_fee_gwei": -1}}, {}, "executor.max_fee_gwei: must be in (0, 10000], got -1"),
        ({"executor": {"max_fee_gwei": "lots"}}, {}, "executor.max_fee_gwei: must be a number in (0, 10000], got 'lots'"),
        ({}, {"KEEPER_EXECUTOR_CONFIRMATIONS": "0"}, "executor.confirmations (KEEPER_EXECUTOR_CONFIRMATIONS): must be in [1, 64], got 0"),
        ({"executor": {"stuck_blocks": 2.5}}, {}, "executor.stuck_blocks: must be an integer in [1, 1000], got 2.5"),
        ({"executor": {"max_priority_fee_gwei": 600}}, {}, "executor.max_priority_fee_gwei: must be <= executor.max_fee_gwei (500), got 600"),
        ({"executor": {"base_fee_multiplier_min": 2, "base_fee_multiplier_max": 1.5}}, {}, "executor.base_fee_multiplier_max: must be >= executor.base_fee_multiplier_min (2), got 1.5"),
        ({"executor": {"reward_percentiles": [50, 10, 90]}}, {}, "executor.reward_percentiles: must be three increasing percentiles in [0, 100], got [50, 10, 90]"),
        ({"breaker": {"cooldown_seconds": 0}}, {}, "breaker.cooldown_seconds: must be in (0, 86400], got 0"),
        ({"breaker": {"failure_threshold": 0}}, {}, "breaker.failure_threshold: must be in [1, 100], got 0"),
        ({}, {"KEEPER_METRICS_PORT": "70000"}, "metrics.port (KEEPER_METRICS_PORT): must be in [0, 65535], got 70000"),
        ({"vaults": []}, {}, "vaults: must be a non-empty list of 0x addresses, got []"),
        ({"vaults": [VAULT1, "0x12"]}, {}, "vaults[1]: must be a 0x-prefixed 20-byte hex address, got '0x12'"),
        ({"vaults": [VAULT3, "0x" + VAULT3[2:].upper()]}, {}, f"vaults[1]: duplicate address 0x{VAULT3[2:].upper()}"),
        ({"vaults": [int(VAULT1, 16)]}, {}, "vaults[0]: YAML read an unquoted 0x... as a number; quote addresses"),
        ({"rpc_url": "localhost:8545"}, {}, "rpc_url: must be an http(s):// or ws(s):// URL, got 'localhost:8545'"),
        ({"chain_id": None}, {}, "chain_id: required (in the config file or KEEPER_CHAIN_ID)"),
        ({"dry_run": "maybe"}, {}, "dry_run: must be true or false, got 'maybe'"),
        ({"log_format": "xml"}, {}, "log_format: must be one of kv, json, got 'xml'"),
        ({"poll_interval_seconds": 0}, {}, "poll_interval_seconds: must be in (0, 3600], got 0"),
        ({"min_signer_balance_eth": -0.5}, {}, "min_signer_balance_eth: must be in [0, 1000000], got -0.5"),
        ({"executor": {"max_fe_gwei": 1}}, {}, "executor.max_fe_gwei: unknown field (known: executor."),
        ({"metrics": 9464}, {}, "metrics: must be a mapping, got int"),
        ({"private_key": KEEPER_KEY}, {}, "private_key: secrets are read from KEEPER_PRIVATE_KEY only; remove it from the file"),
        ({"strategy": {"name": "scaling", "params": [1]}}, {}, "strategy.params: must be a mapping, got list"),
        ({}, {"KEEPER_PRIVATE_KEY": "0x1234"}, "KEEPER_PRIVATE_KEY: must be 32 bytes of hex (64 hex digits, optional 0x), got <redacted>"),
    ],
)
def test_errors_are_one_line_and_name_the_field(raw: dict[str, Any], env: dict[str, str], message: str) -> None:
    merged = {**BASE, **raw}
    merged = {k: v for k, v in merged.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        parse(merged, {**ENV, **env})
    text = str(err.value)
    assert "\n" not in text and text.startswith(message), text
    assert KEEPER_KEY[2:] not in text


def test_signer_is_required_unless_dry_run() -> None:
    with pytest.raises(ConfigError, match=r"^signer: set KEEPER_PRIVATE_KEY, or keyfile \(KEEPER_KEYFILE\) or account \(KEEPER_ACCOUNT\)$"):
        parse(BASE, {})
    assert parse({**BASE, "dry_run": True}, {}).signer.configured is False


def test_keyfile_and_ape_alias_are_decrypted_with_the_password_from_env(tmp_path: Path) -> None:
    keystore = Account.encrypt(bytes.fromhex(KEEPER_KEY[2:]), "hunter2")
    keyfile = tmp_path / "keeper.json"
    keyfile.write_text(json.dumps(keystore))
    with pytest.raises(ConfigError, match=f"^KEEPER_KEYFILE_PASSWORD: required to decrypt {re.escape(str(keyfile))}$"):
        parse({**BASE, "keyfile": str(keyfile)}, {})
    cfg = parse({**BASE, "keyfile": str(keyfile)}, {"KEEPER_KEYFILE_PASSWORD": "hunter2"})
    assert load_signer(cfg.signer).address == Account.from_key(KEEPER_KEY).address

    (tmp_path / "ape" / "accounts").mkdir(parents=True)
    (tmp_path / "ape" / "accounts" / "keeper.json").write_text(json.dumps(keystore))
    env = {"KEEPER_ACCOUNT": "keeper", "APE_DATA_FOLDER": str(tmp_path / "ape"), "KEEPER_KEYFILE_PASSWORD": "hunter2"}
    assert load_signer(parse(BASE, env).signer).address == Account.from_key(KEEPER_KEY).address
    with pytest.raises(ConfigError, match=r"^account \(ghost\): keyfile .*ghost\.json does not exist$"):
        parse(BASE, {**env, "KEEPER_ACCOUNT": "ghost"})


def test_load_config_reads_yaml_from_path_or_keeper_config(tmp_path: Path) -> None:
    path = tmp_path / "keeper.yaml"
    path.write_text(yaml.safe_dump({**BASE, "strategy": {"name": "scaling", "params": {"target": 2.0}}}))
    cfg = load_config(None, {**ENV, "KEEPER_CONFIG": str(path)})
    assert cfg.strategy.params["target"] == 2.0
    path.write_text("vaults: [\n")
    with pytest.raises(ConfigError, match=r"^config file .*keeper\.yaml: line \d+ invalid YAML$"):
        load_config(path, ENV)
    with pytest.raises(ConfigError, match=r"^config file .*missing\.yaml: cannot read"):
        load_config(tmp_path / "missing.yaml", ENV)


def test_the_example_in_the_operations_guide_is_valid() -> None:
    doc = (ROOT / "docs" / "KEEPER_OPERATIONS.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", doc, re.S)
    assert block is not None
    cfg = parse(yaml.safe_load(block.group(1)))
    assert cfg.chain_id == 31337 and len(cfg.vaults) == 2
