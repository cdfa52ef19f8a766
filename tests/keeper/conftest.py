"""Fixtures for the executor and ops suites: a private Anvil per test, web3 on it, signers by role, a journal.

Each chain test starts its own `anvil --port P --silent` on a free port, stops it afterwards, and talks to it
with web3.py directly: the suite needs neither ape nor the root conftest's fixtures (the names here do not shadow
them). Faults are injected at the transport (a provider that loses the answer to a send), never by mocking the
chain. Helpers are in keeper_testkit.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from keeper_testkit import KEEPER_KEY, OWNER_KEY, RIVAL_KEY, AnvilNode, CountingSigner, FaultyProvider, standard_fee_policy
from web3 import Web3

from keeper.executor import Executor, FeePolicy, Journal


@pytest.fixture
def node() -> Iterator[AnvilNode]:
    anvil = AnvilNode()
    yield anvil
    anvil.stop()


@pytest.fixture
def provider(node: AnvilNode) -> FaultyProvider:
    return FaultyProvider(node.url)


@pytest.fixture
def w3(provider: FaultyProvider) -> Web3:
    return Web3(provider)


@pytest.fixture
def keeper_signer() -> CountingSigner:
    return CountingSigner(Account.from_key(KEEPER_KEY))


@pytest.fixture
def rival() -> LocalAccount:
    account: LocalAccount = Account.from_key(RIVAL_KEY)
    return account


@pytest.fixture
def owner() -> LocalAccount:
    account: LocalAccount = Account.from_key(OWNER_KEY)
    return account


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"


@pytest.fixture
def journal(journal_path: Path) -> Iterator[Journal]:
    j = Journal(journal_path)
    yield j
    j.close()


@pytest.fixture
def fee_policy() -> FeePolicy:
    return standard_fee_policy()


@pytest.fixture
def events() -> list[Any]:
    return []


@pytest.fixture
def make_executor(
    w3: Web3, keeper_signer: CountingSigner, journal: Journal, fee_policy: FeePolicy, events: list[Any]
) -> Callable[..., Executor]:
    def make(**overrides: Any) -> Executor:
        kwargs: dict[str, Any] = {"confirmations": 2, "stuck_blocks": 3, "listener": events.append}
        kwargs.update(overrides)
        return Executor(
            kwargs.pop("w3", w3),
            kwargs.pop("signer", keeper_signer),
            kwargs.pop("journal", journal),
            kwargs.pop("fee_policy", fee_policy),
            **kwargs,
        )

    return make


