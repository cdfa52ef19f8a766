"""Helper process for test_executor_crash.py: submit one intent, then SIGKILL itself just before or just after
the node receives the signed bytes (after they were journalled). Usage: crash_submit.py URL DB STAGE BLOCK."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from eth_account import Account
from keeper_testkit import KEEPER_KEY, standard_fee_policy, transfer_intent
from web3 import Web3
from web3.providers.rpc import HTTPProvider

from keeper.executor import Executor, Journal


class KillingProvider(HTTPProvider):
    def __init__(self, url: str, stage: str) -> None:
        super().__init__(url)
        self.stage = stage

    def make_request(self, method: Any, params: Any) -> Any:
        sending = method == "eth_sendRawTransaction"
        if sending and self.stage == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        response = super().make_request(method, params)
        if sending and self.stage == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return response


def main() -> int:
    url, db, stage, block = sys.argv[1:5]
    w3 = Web3(KillingProvider(url, stage))
    executor = Executor(w3, Account.from_key(KEEPER_KEY), Journal(db), standard_fee_policy(), confirmations=1)
    executor.submit(transfer_intent(int(block)))
    return 3  # unreachable: the process is killed inside submit


if __name__ == "__main__":
    sys.exit(main())
