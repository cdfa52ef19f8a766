"""kill -9 in the middle of a send: a subprocess journals the signed bytes and is SIGKILLed just before or just
after the node receives them; recovery in this process must land the intent exactly once, signing nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from keeper_testkit import RECIPIENT, AnvilNode, CountingSigner, balance, standard_fee_policy, txs_at_nonce
from web3 import Web3

from keeper.executor import Executor, IntentStatus, Journal, TxStatus

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize(
    ("stage", "automine"),
    [("before", False), ("after", False), ("after", True)],
    ids=["killed-before-broadcast", "killed-after-broadcast-pending", "killed-after-broadcast-mined"],
)
def test_sigkill_around_broadcast_recovers_without_duplicate(
    stage: str, automine: bool, node: AnvilNode, w3: Web3, journal_path: Path, keeper_signer: CountingSigner
) -> None:
    node.automine(automine)
    before = balance(w3, RECIPIENT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, str(HERE / "crash_submit.py"), node.url, str(journal_path), stage, "0"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]

    journal = Journal(journal_path)
    try:
        (record,) = journal.in_flight()
        (tx,) = journal.txs(record.id)
        assert tx.status == TxStatus.SIGNED and record.status == IntentStatus.PENDING  # journalled before the send
        pending = w3.eth.get_transaction_count(keeper_signer.address, "pending")
        assert pending == (0 if stage == "before" else 1)

        executor = Executor(w3, keeper_signer, journal, standard_fee_policy(), confirmations=1)
        executor.recover()
        node.mine()
        executor.poll(w3.eth.block_number)
        final = executor.handle(record.id)
        assert final is not None and final.status == IntentStatus.CONFIRMED and final.tx_hash == tx.hash
        assert keeper_signer.signed == []  # recovery re-used the journalled bytes
        assert txs_at_nonce(w3, keeper_signer.address, 0) == [tx.hash]
        assert balance(w3, RECIPIENT) - before == 12345
        assert w3.eth.get_transaction_count(keeper_signer.address) == 1
    finally:
        journal.close()
