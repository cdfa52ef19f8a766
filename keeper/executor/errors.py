"""Executor exceptions: one base class, one subclass per thing a caller may want to handle differently.

Every message is a single line naming the intent, vault or nonce involved, so a log line is enough to act on.
"""

from __future__ import annotations


class ExecutorError(Exception):
    """Base class for everything the executor raises on purpose."""


class InvalidIntent(ExecutorError, ValueError):
    """The planner built an intent the executor cannot send (urgency out of [0, 1], negative value, ...)."""


class JournalError(ExecutorError):
    """The journal refused a write (illegal state transition, unknown row, or a journal of another signer/chain)."""


class VaultBusy(ExecutorError):
    """A vault already has an intent in flight; the planner must wait for it (or cancel it) first."""

    def __init__(self, vault: str, holder: str) -> None:
        super().__init__(f"vault {vault}: intent {holder} is still in flight")
        self.vault = vault
        self.holder = holder


class SimulationReverted(ExecutorError):
    """The pre-send simulation reverted: nothing was signed or sent."""

    def __init__(self, intent_id: str, reason: str, selector: str | None) -> None:
        super().__init__(f"intent {intent_id}: simulation reverted: {reason}")
        self.intent_id = intent_id
        self.reason = reason
        self.selector = selector


class FeeCapExceeded(ExecutorError):
    """The configured fee caps forbid the fees a transaction needs (to be includable, or to be a valid bump)."""


class RpcUnavailable(ExecutorError):
    """The node could not be reached (timeout, connection reset, HTTP error); the message names the operation."""


class BroadcastError(RpcUnavailable):
    """Signed transactions are still unacknowledged because the node is unreachable; nothing new is signed."""


class TxRejected(ExecutorError):
    """The node refused a freshly signed transaction for good (e.g. insufficient funds); its nonce was released."""


class CannotCancel(ExecutorError):
    """The intent cannot be cancelled (unknown, already final, or already mined and waiting for confirmations)."""
