"""A private Anvil process for tests, benchmarks and local experiments (the binary from node_modules)."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AnvilNode:
    """One anvil process on a free port; `rpc` for the anvil_/evm_ methods web3 has no wrapper for."""

    def __init__(self, *args: str, attempts: int = 3) -> None:
        binary = shutil.which("anvil") or str(ROOT / "node_modules" / ".bin" / "anvil")
        for _ in range(attempts):
            # A private chain id proves we talk to our own process, not to whoever won a race for the port.
            self.chain_id = random.randint(100_000, 2**31 - 1)
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--chain-id", str(self.chain_id), "--silent", *args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._ready(deadline=time.monotonic() + 20):
                return
            self.stop()
        raise RuntimeError(f"anvil did not start after {attempts} attempts")

    def _ready(self, deadline: float) -> bool:
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                return bool(int(self.rpc("eth_chainId"), 16) == self.chain_id and self.proc.poll() is None)
            except requests.exceptions.ConnectionError:
                time.sleep(0.03)
        return False

    def rpc(self, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer = requests.post(self.url, json=body, timeout=30).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.rpc("evm_mine")

    def automine(self, on: bool) -> None:
        self.rpc("evm_setAutomine", on)

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snap: str) -> None:
        assert self.rpc("evm_revert", snap) is True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
