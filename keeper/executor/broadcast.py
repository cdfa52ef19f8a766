"""`eth_sendRawTransaction` with the answer sorted into what the executor must do next.

web3.py does not retry this method (it is not idempotent in general); for us it is, because we only ever resend
the exact signed bytes. Node messages differ between clients, so the classification matches known phrasings
(geth, erigon, nethermind, besu, anvil) case-insensitively.
"""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass
from enum import Enum

import requests
from web3 import Web3
from web3.exceptions import TimeExhausted, Web3RPCError


class SendOutcome(str, Enum):
    ACCEPTED = "accepted"  # the node took it
    KNOWN = "known"  # the node already has these exact bytes: as good as accepted
    NONCE_TOO_LOW = "nonce_too_low"  # something was already mined at this nonce
    UNDERPRICED = "underpriced"  # fees too low for the pool, for a replacement, or below the base fee
    TRANSPORT = "transport"  # timeout / connection reset / 5xx: the node may or may not have it
    REJECTED = "rejected"  # any other refusal (insufficient funds, gas limit, ...): it will not be accepted

    @property
    def acknowledged(self) -> bool:
        return self in (SendOutcome.ACCEPTED, SendOutcome.KNOWN)


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    detail: str = ""


_KNOWN = ("already known", "already imported", "known transaction", "alreadyknown", "already exists", "already in")
_NONCE_LOW = ("nonce too low", "oldnonce", "nonce is too low", "invalid nonce", "nonce has already been used")
_UNDERPRICED = (
    "underpriced",
    "fee too low",
    "feetoolow",
    "less than block base fee",
    "max fee per gas less than",
    "replacementnotallowed",
    "gas price too low",
)

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.HTTPError,
    http.client.HTTPException,
    socket.timeout,
    ConnectionError,
    TimeoutError,
    TimeExhausted,
)


def rpc_message(exc: BaseException) -> str:
    """The node's error message, without web3's dict wrapping."""
    if isinstance(exc, Web3RPCError) and isinstance(exc.rpc_response, dict):
        error = exc.rpc_response.get("error")
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def classify_message(message: str) -> SendOutcome:
    low = message.lower()
    if any(k in low for k in _KNOWN):
        return SendOutcome.KNOWN
    if any(k in low for k in _NONCE_LOW):
        return SendOutcome.NONCE_TOO_LOW
    if any(k in low for k in _UNDERPRICED):
        return SendOutcome.UNDERPRICED
    return SendOutcome.REJECTED


def send_raw(w3: Web3, raw: bytes) -> SendResult:
    try:
        w3.eth.send_raw_transaction(raw)
    except TRANSPORT_ERRORS as exc:
        return SendResult(SendOutcome.TRANSPORT, f"{type(exc).__name__}: {rpc_message(exc)}")
    except (Web3RPCError, ValueError) as exc:
        message = rpc_message(exc)
        return SendResult(classify_message(message), message)
    return SendResult(SendOutcome.ACCEPTED)
