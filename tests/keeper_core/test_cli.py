"""`keeper once --dry-run`, `keeper status`, `keeper run` (SIGTERM -> exit 0) and one-line errors (exit 2)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chainkit import KEEPER_KEY, ROOT, AnvilNode, Stack, start_stack
from conftest import revert_after

from keeper.cli import main

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def base() -> Iterator[Stack]:
    node = AnvilNode("--gas-limit", "100000000")
    try:
        s = start_stack(node)
        for i in range(2):
            v = s.deploy_vault()
            s.deposit(v, s.units(20_000 * (i + 1)))
        yield s
    finally:
        node.stop()


@pytest.fixture
def stack(base: Stack) -> Iterator[Stack]:
    yield from revert_after(base)


def write_config(s: Stack, tmp_path: Path, **extra: Any) -> Path:
    cfg: dict[str, Any] = {
        "rpc_url": s.node.url,
        "chain_id": s.node.chain_id,
        "vaults": [v.address for v in s.vaults],
        "lens": s.lens.address,
        "db": str(tmp_path / "keeper.sqlite"),
        "poll_interval_seconds": 0.2,
        "metrics": {"port": 0},
        "planner": {"confirm_blocks": 1},
    }
    cfg.update(extra)
    path = tmp_path / "keeper.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("KEEPER_"):
            monkeypatch.delenv(var)


def test_once_dry_run_prints_the_plan_and_sends_nothing(stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_key: None) -> None:
    path = write_config(stack, tmp_path)
    before = stack.w3.eth.get_transaction_count(stack.keeper)
    head = stack.w3.eth.block_number
    assert main(["once", "--config", str(path), "--dry-run", "--from", stack.keeper]) == 0
    out = capsys.readouterr().out
    assert "2 action(s) planned" in out and out.count("rebalance ") == 2
    assert out.count(f"simulation from {stack.keeper}: ok") == 2
    assert "dry run: would send 2 call(s); sent nothing" in out
    assert stack.w3.eth.get_transaction_count(stack.keeper) == before and stack.w3.eth.block_number == head
    assert not (tmp_path / "keeper.sqlite").exists()  # no journal, no state written


def test_once_dry_run_without_a_signer_still_plans(stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_key: None) -> None:
    path = write_config(stack, tmp_path)
    assert main(["once", "--config", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "not simulated (no --from address and no signer key)" in out and "sent nothing" in out


def test_status_prints_a_table(stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_key: None) -> None:
    stack.rebalance_to_target(stack.vaults[0])
    path = write_config(stack, tmp_path)
    assert main(["status", "--config", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["vault", "equity", "leverage", "[min-max]", "target", "margin", "liq", "dist", "lens", "says", "last", "action", "pending"]
    rows = {line.split()[0]: line for line in out[3:]}
    levered = rows[stack.vaults[0].address]
    assert "[1.70-2.30] 2.00" in levered and "rebalance" in levered and "NONE/WITHIN_BAND" in levered
    fresh = rows[stack.vaults[1].address]
    assert "0.000x" in fresh and "OUT" in fresh and "REBALANCE/BELOW_MIN" in fresh and "never" in fresh


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"lens": None}, "lens: required by the keeper loop"),
        ({"chain_id": 1}, "chain_id: config says 1"),
        ({"planner": {"confirm_blocks": 0}}, "planner.confirm_blocks: must be in [1, 1000], got 0"),
        ({"planner": {"speed": 1}}, "planner.speed: unknown field"),
        ({"batcher": 12}, "batcher: YAML read an unquoted 0x... as a number"),
        ({"strategy": {"name": "nope"}}, "strategy: unknown name 'nope'"),
        ({"rpc_url": "http://127.0.0.1:1"}, "node unreachable"),
    ],
)
def test_errors_are_one_line_with_exit_2(stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_key: None, edit: dict[str, Any], message: str) -> None:
    path = write_config(stack, tmp_path, **edit)
    if edit.get("lens", "") is None:
        raw = yaml.safe_load(path.read_text())
        raw.pop("lens")
        path.write_text(yaml.safe_dump(raw))
    assert main(["once", "--config", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("keeper: error: ") and message in err[0], err


def test_missing_file_and_missing_signer(tmp_path: Path, capsys: pytest.CaptureFixture[str], stack: Stack, no_key: None) -> None:
    assert main(["status", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    path = write_config(stack, tmp_path)
    assert main(["once", "--config", str(path)]) == 2  # sending needs a signer
    assert "signer: set KEEPER_PRIVATE_KEY" in capsys.readouterr().err


def test_run_handles_blocks_and_exits_0_on_sigterm(stack: Stack, tmp_path: Path) -> None:
    path = write_config(stack, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    env["KEEPER_PRIVATE_KEY"] = KEEPER_KEY
    proc = subprocess.Popen(
        [sys.executable, "-m", "keeper.cli", "run", "--config", str(path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum("tx_confirmed" in x for x in list(lines)) < 2:
            time.sleep(0.3)
            stack.node.mine()  # blocks for the loop to process and the executor to confirm on
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines)
    assert proc.returncode == 0, text
    assert "started" in text and text.count("action_planned") == 2 and "shutdown" in text and "Traceback" not in text
    assert stack.w3.eth.get_transaction_count(stack.keeper) == 2


def test_once_without_dry_run_sends_and_journals(stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, no_key: None) -> None:
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", KEEPER_KEY)
    path = write_config(stack, tmp_path)
    assert main(["once", "--config", str(path)]) == 0
    assert "submitted 2 intent(s); failures: 0" in capsys.readouterr().out
    assert stack.w3.eth.get_transaction_count(stack.keeper) == 2
    assert main(["status", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("rebalance mined nonce") + out.count("rebalance pending nonce") == 2  # in flight (2 confirmations)
