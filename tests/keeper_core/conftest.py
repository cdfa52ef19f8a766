"""Fixtures of the keeper-core suite: Anvil stacks deployed with web3 (chainkit.py), no ape fixtures.

A module-scoped stack is shared by the tests of one module; each test runs between an evm_snapshot and an
evm_revert (the `fresh` fixture), so tests do not see each other's transactions.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chainkit import Stack  # noqa: E402


def revert_after(stack: Stack) -> Iterator[Stack]:
    snap = stack.node.snapshot()
    prices = dict(stack.prices)
    vaults = list(stack.vaults)
    modules = dict(stack.modules)
    batcher = stack.batcher
    yield stack
    stack.node.revert(snap)
    stack.prices.clear()
    stack.prices.update(prices)
    stack.vaults[:] = vaults
    stack.modules.clear()
    stack.modules.update(modules)
    stack.batcher = batcher


@pytest.fixture
def tmp_db(tmp_path: Path) -> Path:
    return tmp_path / "keeper.sqlite"
