"""Transaction side of the keeper: fees, nonces, journal, and the Executor that sends intents exactly once.

See keeper/executor/sender.py for the Executor API and docs/KEEPER_OPERATIONS.md for operations.
"""

from keeper.executor.errors import (
    BroadcastError,
    CannotCancel,
    ExecutorError,
    FeeCapExceeded,
    InvalidIntent,
    JournalError,
    RpcUnavailable,
    SimulationReverted,
    TxRejected,
    VaultBusy,
)
from keeper.executor.fees import FeeCaps, FeeHistory, FeePolicy, FeeQuote, Fees, bump_fees, quote_fees
from keeper.executor.journal import Journal
from keeper.executor.models import ExecutorEvent, Intent, IntentStatus, TxHandle, TxKind, TxStatus, batch_intent
from keeper.executor.nonce import NonceManager
from keeper.executor.revert import DecodedRevert, ErrorDecoder, error_selector
from keeper.executor.sender import Executor
from keeper.executor.signer import Signer, load_account

__all__ = [
    "BroadcastError",
    "CannotCancel",
    "DecodedRevert",
    "ErrorDecoder",
    "Executor",
    "ExecutorError",
    "ExecutorEvent",
    "FeeCapExceeded",
    "FeeCaps",
    "FeeHistory",
    "FeePolicy",
    "FeeQuote",
    "Fees",
    "Intent",
    "InvalidIntent",
    "IntentStatus",
    "Journal",
    "JournalError",
    "NonceManager",
    "RpcUnavailable",
    "Signer",
    "SimulationReverted",
    "TxHandle",
    "TxKind",
    "TxRejected",
    "TxStatus",
    "VaultBusy",
    "batch_intent",
    "bump_fees",
    "error_selector",
    "load_account",
    "quote_fees",
]
